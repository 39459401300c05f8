"""Request body size limit, enforced while the body streams in (Content-Length is checked first).

Uploads and conversation imports get their own, larger limits (`path_limits`); the upload route
checks the file's exact size itself.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alice_backend.errors import error_json
from alice_backend.openai_compat import errors as openai_errors

MULTIPART_OVERHEAD = 64 * 1024


class BodySizeLimit:
    def __init__(self, app: ASGIApp, json_limit: int, path_limits: dict[str, int]):
        self.app = app
        self.json_limit = json_limit
        self.path_limits = path_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.json_limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit, scope["path"])(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"request body exceeds {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int, path: str):
    message, headers = f"request body exceeds {limit} bytes", {"Connection": "close"}
    if path.startswith(openai_errors.PREFIX):
        return openai_errors.openai_error(413, message, "payload_too_large", headers=headers)
    return error_json(413, "payload_too_large", message, headers)
