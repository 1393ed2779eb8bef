"""The mini-program JSON API under /api/mp/ and the OpenAPI document at /api/openapi.json."""
