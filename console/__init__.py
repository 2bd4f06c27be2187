"""The Textual terminal console of the ops API."""
