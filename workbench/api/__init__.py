"""The HTTP API at /api/v1 (`workbench.api.core`): one server owns the store, and everything else goes through it."""
