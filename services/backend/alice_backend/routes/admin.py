"""Operator views for admins (granted out of band): Kafka flows and DLQs, analytics."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from alice_backend.auth.dependencies import Admin, Ctx
from alice_backend.errors import ApiError, error_responses
from alice_backend.internal_client import seg

router = APIRouter(prefix="/api/admin", tags=["admin"])

ERRORS = error_responses(401, 403, 404, 502, 503)


@router.get("/flows", responses=ERRORS)
async def flows(ctx: Ctx, _: Admin) -> dict[str, Any]:
    return await ctx.kafkaflow.call("GET", "/api/flows") or {}


def _sub_path(path: str) -> str:
    return "/".join(seg(part) for part in path.split("/") if part)


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
