"""Shared library of every Alice service."""
