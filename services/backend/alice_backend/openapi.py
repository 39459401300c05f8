"""OpenAPI tweaks: FastAPI documents its own 422 body (`HTTPValidationError`), but every error here
is `ErrorResponse`; rewrite those references so the published schema matches the answers. The
reply stream's event data are not response bodies, so their schemas are added by hand."""

from typing import Any

from alice_common.wire import ReplyStatus
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
_OURS = "#/components/schemas/ErrorResponse"
# The data of reply-stream events (`GET /api/replies/{reply_id}/stream`), by schema name.
STREAM_EVENT_DATA: tuple[type[BaseModel], ...] = (ReplyStatus,)


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("$ref") == _FASTAPI_422:
            return {"$ref": _OURS}
        return {k: _rewrite(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = _rewrite(
                get_openapi(
                    title=app.title, version=app.version, description=app.description, routes=app.routes
                )
            )
            schemas = schema["components"]["schemas"]
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            for model in STREAM_EVENT_DATA:
                # Validation mode: a field left out of the data (`exclude_none`) is optional.
                schemas[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
