"""The internal-token guard of the dataflow's internal API (errors: `alice_common.errors`)."""

import hmac

from alice_common.errors import ApiError, install_error_handlers
from fastapi import Header

__all__ = ["ApiError", "install_error_handlers", "internal_token_guard"]


def internal_token_guard(expected: str):
    """FastAPI dependency: 401 unless `X-Internal-Token` matches."""

    async def guard(x_internal_token: str | None = Header(default=None)) -> None:
        if not x_internal_token or not hmac.compare_digest(x_internal_token, expected):
            raise ApiError(401, "unauthorized", "missing or wrong X-Internal-Token")

    return guard
