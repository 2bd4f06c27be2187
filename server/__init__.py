"""The ops server: aiohttp app implementing the ops API contracts over the embedded demo plant."""
