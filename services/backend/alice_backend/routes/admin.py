"""Operator views for admins (granted out of band): Kafka flows and DLQs, analytics, feedback.

Each view relays one kafkaflow, dataflow or orchestrator endpoint and answers with its wire model
(`alice_common.admin_wire`, `alice_common.wire`), so the OpenAPI document describes what the
admin page reads.
"""

from typing import Annotated
from urllib.parse import unquote

from alice_common.admin_wire import (
    DailyStats,
    DlqRecordPage,
    DlqTopicList,
    FlowGraph,
    FlowView,
    ReplayRequest,
    ReplayResult,
)
from alice_common.wire import FeedbackStats
from fastapi import APIRouter, Path, Query

from alice_backend.auth.dependencies import Admin, Ctx
from alice_backend.errors import ApiError, error_responses

router = APIRouter(prefix="/api/admin", tags=["admin"])

ERRORS = error_responses(400, 401, 403, 404, 502, 503)

# A `.` or `..` segment would be resolved on the way to kafkaflow and reach another of its routes.
_DOT_SEGMENTS = {".", ".."}


def _refuse_dot_segments(path: str) -> str:
    parts = [part for part in path.split("/") if part]
    # The route has decoded the path once; decode again so a double-encoded dot is refused too.
    if any(part in _DOT_SEGMENTS or unquote(part) in _DOT_SEGMENTS for part in parts):
        raise ApiError(400, "invalid_path", "path segments `.` and `..` are not allowed")
    return path


Topic = Annotated[str, Path(description="a dead-letter topic, without `KAFKA_TOPIC_PREFIX`")]


@router.get("/flows", response_model=FlowView, responses=ERRORS)
async def flows(ctx: Ctx, _: Admin) -> FlowView:
    return await ctx.kafkaflow.flows()


@router.post("/flows/refresh", response_model=FlowGraph, responses=ERRORS)
async def refresh_flows(ctx: Ctx, _: Admin) -> FlowGraph:
    """Polls Kafka now instead of waiting for the next poll."""
    return await ctx.kafkaflow.refresh_flows()


@router.get("/flows/dlq", response_model=DlqTopicList, responses=ERRORS)
async def dlq_topics(ctx: Ctx, _: Admin) -> DlqTopicList:
    return await ctx.kafkaflow.dlq_topics()


@router.get("/flows/dlq/{topic}", response_model=DlqRecordPage, responses=error_responses(422, *ERRORS))
async def dlq_records(
    topic: Topic,
    ctx: Ctx,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    partition: Annotated[int | None, Query(ge=0)] = None,
) -> DlqRecordPage:
    return await ctx.kafkaflow.dlq_records(_refuse_dot_segments(topic), limit, partition)


@router.post(
    "/flows/dlq/{topic}/replay",
    response_model=ReplayResult,
    response_model_exclude_none=True,  # `skipped_already_replayed` is sent for `all` only
    responses=error_responses(409, 422, *ERRORS),
)
async def replay_dlq(topic: Topic, body: ReplayRequest, ctx: Ctx, _: Admin) -> ReplayResult:
    """Replays one dead letter (`partition`, `offset`) or every pending one (`all`) onto its source topic."""
    return await ctx.kafkaflow.replay(_refuse_dot_segments(topic), body)


@router.api_route("/flows/{path:path}", methods=["GET", "POST"], responses=ERRORS, include_in_schema=False)
async def unknown_flow_view(path: str, _: Admin) -> None:
    """kafkaflow has no other view; a dot segment is still named as such."""
    _refuse_dot_segments(path)
    raise ApiError(404, "not_found", "no such flow view")


@router.get("/stats", response_model=DailyStats, responses=ERRORS)
async def stats(ctx: Ctx, _: Admin, days: Annotated[int, Query(ge=1, le=366)] = 30) -> DailyStats:
    return await ctx.dataflow.stats(days)


@router.get("/feedback", response_model=FeedbackStats, responses=ERRORS)
async def feedback(ctx: Ctx, _: Admin) -> FeedbackStats:
    """The share of up and down ratings per model, and the latest comments (the orchestrator's)."""
    return await ctx.orchestrator.feedback_stats()
