"""The domain: what the server does, independent of HTTP."""
