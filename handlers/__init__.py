"""HTTP handlers: thin adapters from requests to service functions."""
