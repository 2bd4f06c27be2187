"""Shared between server and console: payload models, scopes and the typed HTTP client."""
