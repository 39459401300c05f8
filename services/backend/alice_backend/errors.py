"""One JSON error shape for every failure: `{"error": {"code": "...", "message": "..."}}`."""

from alice_common.errors import DEFAULT_CODES, ApiError, error_json, install_error_handlers
from pydantic import BaseModel

__all__ = [
    "ApiError",
    "ErrorResponse",
    "error_json",
    "error_responses",
    "install_error_handlers",
    "not_found",
]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


# OpenAPI `responses=` entries so clients and schemathesis know the error shape.
def error_responses(*statuses: int) -> dict[int, dict]:
    return {s: {"model": ErrorResponse, "description": DEFAULT_CODES.get(s, "error")} for s in statuses}
