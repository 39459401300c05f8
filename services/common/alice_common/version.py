"""Alice's version: versions.env's APP_VERSION, which every workspace package's pyproject.toml
carries (tests/deploy/test_versions.py checks the copies). The services' OpenAPI `version`."""

from importlib.metadata import version

APP_VERSION = version("alice-common")
