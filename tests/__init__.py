"""The system-level tests (a package so that their shared helpers import as `tests.support`)."""
