"""OpenAI's error shape on `/v1/*`: `{"error": {"message", "type", "param", "code"}}`.

The SDKs pick their exception from the status code (401 AuthenticationError, 429 RateLimitError,
400 BadRequestError, ...); the body says why. Validation failures are 400 there, not 422.
Every other path keeps Alice's own shape.
"""

from alice_common.errors import with_retry_after
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alice_backend.errors import DEFAULT_CODES, ApiError

PREFIX = "/v1/"

_TYPES = {401: "invalid_request_error", 403: "permission_error", 429: "requests"}
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
KEEP_422 = frozenset({"idempotency_key_reused"})
# Alice's own codes that OpenAI's clients know by another name.
_RENAMED = {"rate_limited": "rate_limit_exceeded"}


def error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _TYPES.get(status, "invalid_request_error")


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict:
    return {
        "error": {
            "message": message,
            "type": error_type(status),
            "param": param,
            "code": _RENAMED.get(code or "", code) or _CODES.get(status) or DEFAULT_CODES.get(status),
        }
    }


def openai_error(
    status: int,
    message: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_body(status, message, code, param)
    return JSONResponse(body, status_code=status, headers=with_retry_after(status, headers))


class OpenAIError(ApiError):
    """An ApiError that also names the offending request field (`param`)."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None, headers=None):
        super().__init__(status, code, message, headers)
        self.param = param


def _validation(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return openai_error(400, "We could not parse the JSON body of your request.", "invalid_json")
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    message = f"{param or 'body'}: {first.get('msg', 'invalid')}"
    return openai_error(400, message, "invalid_value", param)


def install_openai_errors(app: FastAPI) -> None:
    """Wraps the app's handlers (install after `install_error_handlers`)."""
    previous = dict(app.exception_handlers)

    def on_v1(request: Request) -> bool:
        return request.url.path.startswith(PREFIX)

    async def api_error(request: Request, exc: ApiError):
        if not on_v1(request):
            return await previous[ApiError](request, exc)
        # OpenAI answers 400 for a bad request; a reused `Idempotency-Key` keeps the 422 its
        # specification (and every client of it) expects.
        status = 400 if exc.status == 422 and exc.code not in KEEP_422 else exc.status
        return openai_error(status, exc.message, exc.code, getattr(exc, "param", None), exc.headers)

    async def http_error(request: Request, exc: StarletteHTTPException):
        if not on_v1(request):
            return await previous[StarletteHTTPException](request, exc)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return openai_error(exc.status_code, message, headers=getattr(exc, "headers", None))

    async def validation_error(request: Request, exc: RequestValidationError):
        if not on_v1(request):
            return await previous[RequestValidationError](request, exc)
        return _validation(exc)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
