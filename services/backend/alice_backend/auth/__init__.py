"""Accounts: password hashing, access tokens (JWT), refresh tokens (Redis), request authentication."""
