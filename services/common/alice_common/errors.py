"""One JSON error shape for every Alice API, public and internal:
`{"error": {"code": "...", "message": "..."}}` with the right status, never a bare 5xx page."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


# A store that is down or hung: the request did nothing durable, so the client may simply retry.
DEPENDENCY_RETRY_AFTER_S = 5


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def with_retry_after(status: int, headers: dict[str, str] | None) -> dict[str, str] | None:
    """Every 429 and 503 says when to retry (docs/api.md); the raiser's own figure wins."""
    if status not in (429, 503) or any(k.lower() == "retry-after" for k in headers or {}):
        return headers
    return {**(headers or {}), "Retry-After": str(DEPENDENCY_RETRY_AFTER_S)}


def error_json(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=with_retry_after(status, headers))


def _describe_validation(exc: RequestValidationError) -> tuple[str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return "malformed_json", "request body is not valid JSON"
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return "validation_error", "; ".join(parts) or "invalid request"


def _dependency_errors() -> tuple[type[BaseException], ...]:
    import pymongo.errors
    import redis.exceptions

    return (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        pymongo.errors.ConnectionFailure,  # includes NetworkTimeout, ServerSelectionTimeoutError
        pymongo.errors.ExecutionTimeout,
        pymongo.errors.WTimeoutError,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_json(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = DEFAULT_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_json(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = _describe_validation(exc)
        return error_json(400 if code == "malformed_json" else 422, code, message)

    for dependency_error in _dependency_errors():

        @app.exception_handler(dependency_error)
        async def _dependency_unavailable(request: Request, exc: Exception) -> JSONResponse:
            log.warning("dependency unavailable on %s %s: %r", request.method, request.url.path, exc)
            return error_json(
                503,
                "dependency_unavailable",
                "a storage service is unavailable; retry shortly",
                {"Retry-After": str(DEPENDENCY_RETRY_AFTER_S)},
            )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_json(500, "internal_error", "internal error")
