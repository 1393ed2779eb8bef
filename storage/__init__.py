"""Repositories: all MongoDB and Redis access lives here, one module per aggregate."""
