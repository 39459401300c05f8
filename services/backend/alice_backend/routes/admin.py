"""Operator views for admins (granted out of band): Kafka flows and DLQs, analytics."""

import json
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Query, Request

from alice_backend.auth.dependencies import Admin, Ctx
from alice_backend.errors import ApiError, error_responses
from alice_backend.internal_client import seg

router = APIRouter(prefix="/api/admin", tags=["admin"])

ERRORS = error_responses(400, 401, 403, 404, 502, 503)


@router.get("/flows", responses=ERRORS)
async def flows(ctx: Ctx, _: Admin) -> dict[str, Any]:
    return await ctx.kafkaflow.call("GET", "/api/flows") or {}


# A `.` or `..` segment would be resolved on the way to kafkaflow and reach another of its routes.
_DOT_SEGMENTS = {".", ".."}


def _sub_path(path: str) -> str:
    parts = [part for part in path.split("/") if part]
    # The route has decoded the path once; decode again so a double-encoded dot is refused too.
    if any(part in _DOT_SEGMENTS or unquote(part) in _DOT_SEGMENTS for part in parts):
        raise ApiError(400, "invalid_path", "path segments `.` and `..` are not allowed")
    return "/".join(seg(part) for part in parts)


@router.get("/flows/{path:path}", responses=ERRORS)
async def flows_detail(path: str, request: Request, ctx: Ctx, _: Admin) -> Any:
    """DLQ listings and other flow views, passed through to kafkaflow `/api/flows/{path}`."""
    return await ctx.kafkaflow.call("GET", f"/api/flows/{_sub_path(path)}", params=dict(request.query_params))


@router.post("/flows/{path:path}", responses=ERRORS)
async def flows_action(path: str, request: Request, ctx: Ctx, _: Admin) -> Any:
    """DLQ replay (one record or all), passed through to kafkaflow `/api/flows/{path}`."""
    raw = await request.body()
    try:
        payload = json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise ApiError(400, "malformed_json", "request body is not valid JSON") from exc
    return await ctx.kafkaflow.call(
        "POST", f"/api/flows/{_sub_path(path)}", params=dict(request.query_params), json=payload
    )


@router.get("/stats", responses=ERRORS)
async def stats(ctx: Ctx, _: Admin, days: Annotated[int, Query(ge=1, le=366)] = 30) -> Any:
    return await ctx.dataflow.call("GET", "/internal/stats", params={"days": days})
