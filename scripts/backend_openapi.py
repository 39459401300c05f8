"""Prints the backend's OpenAPI document (JSON) without starting it: creating the app opens no
connection (the lifespan, which connects, only runs when a server starts it). The frontend's
types are generated from this output (`npm run gen:api` in frontend/)."""

import json
import os
import secrets
import sys


def backend_openapi() -> dict:
    # The document does not depend on settings, but settings refuse to load without secrets:
    # throwaway ones, used for nothing.
    for name in ("JWT_SECRET", "ALICE_INTERNAL_TOKEN"):
        os.environ.setdefault(name, secrets.token_urlsafe(48))
    from alice_backend.main import create_app

    return create_app().openapi()


if __name__ == "__main__":
    json.dump(backend_openapi(), sys.stdout, indent=2)
    sys.stdout.write("\n")
