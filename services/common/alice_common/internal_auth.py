"""The guard of every internal HTTP API: `X-Internal-Token` must equal the shared secret.

The comparison is constant-time on bytes, so neither timing nor a non-ASCII header value (which
`hmac.compare_digest` refuses as `str`) can tell an attacker anything or crash the request.
"""

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header
from pydantic import SecretStr

from alice_common.errors import ApiError


def internal_token_guard(expected: SecretStr) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency: 401 unless the request's `X-Internal-Token` matches `expected`."""
    wanted = expected.get_secret_value().encode()

    async def require_internal_token(x_internal_token: Annotated[str | None, Header()] = None) -> None:
        # Header values arrive decoded as latin-1; encoding back gives the bytes that were sent.
        given = (x_internal_token or "").encode("latin-1", errors="replace")
        if not given or not hmac.compare_digest(given, wanted):
            raise ApiError(401, "unauthorized", "missing or wrong X-Internal-Token")

    return require_internal_token
