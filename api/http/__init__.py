"""The HTTP door: the JSON API (FastAPI), its access rules, observability and problem responses."""
