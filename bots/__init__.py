"""Chat adapters: thin clients of the HTTP API."""
