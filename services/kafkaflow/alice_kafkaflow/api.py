"""HTTP routes under /api/flows; every one needs the internal token (the backend proxies admins)."""

from typing import Annotated

from alice_common.admin_wire import (
    DlqRecordPage,
    DlqTopicList,
    FlowGraph,
    FlowView,
    ReplayRequest,
    ReplayResult,
)
from fastapi import APIRouter, Query

from alice_kafkaflow.app_context import Ctx
from alice_kafkaflow.errors import ApiError
from alice_kafkaflow.flows import build_flows
from alice_kafkaflow.poller import KafkaPoller
from alice_kafkaflow.replay_log import bookkeeping_names

router = APIRouter(prefix="/api/flows")


@router.get("", response_model=FlowView)
async def flows(ctx: Ctx, refresh: bool = False) -> FlowView:
    poller = ctx.poller
    snapshot = poller.latest
    if refresh or snapshot is None:
        try:
            snapshot = await poller.refresh()
        except Exception as exc:
            if poller.latest is None:
                raise ApiError(503, "kafka_unavailable", f"no snapshot of Kafka yet: {exc}") from exc
            snapshot = poller.latest  # serve the last good snapshot; age_s tells how old
    return FlowView.model_validate({**_graph(poller, snapshot), "last_error": poller.last_error})


@router.post("/refresh", response_model=FlowGraph)
async def refresh(ctx: Ctx) -> FlowGraph:
    poller = ctx.poller
    return FlowGraph.model_validate(_graph(poller, await poller.refresh()))


def _graph(poller: KafkaPoller, snapshot) -> dict:
    hidden = frozenset(bookkeeping_names(poller.settings))
    return build_flows(snapshot, poller.settings.kafka_topic_prefix, hidden=hidden)


@router.get("/dlq", response_model=DlqTopicList)
async def dlq_topics(ctx: Ctx) -> DlqTopicList:
    return DlqTopicList.model_validate({"items": await ctx.dlq.list_dlqs()})


@router.get("/dlq/{topic}", response_model=DlqRecordPage)
async def dlq_records(
    ctx: Ctx,
    topic: str,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    partition: Annotated[int | None, Query(ge=0)] = None,
) -> DlqRecordPage:
    limit = min(limit, ctx.settings.dlq_max_list)
    return DlqRecordPage.model_validate(await ctx.dlq.read(topic, limit, partition))


# `skipped_already_replayed` is sent for `all` only.
@router.post("/dlq/{topic}/replay", response_model=ReplayResult, response_model_exclude_none=True)
async def replay(ctx: Ctx, topic: str, body: ReplayRequest) -> ReplayResult:
    service = ctx.dlq
    if body.all:
        return ReplayResult.model_validate(await service.replay_all(topic))
    return ReplayResult.model_validate(await service.replay_one(topic, body.partition, body.offset))
