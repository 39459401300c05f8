"""Alice backend service."""
