"""HTTP routes under /api/flows; every one needs the internal token (the backend proxies admins)."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alice_kafkaflow.app_context import Ctx
from alice_kafkaflow.errors import ApiError
from alice_kafkaflow.flows import build_flows
from alice_kafkaflow.poller import KafkaPoller
from alice_kafkaflow.replay_log import bookkeeping_names

router = APIRouter(prefix="/api/flows")


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partition: int | None = Field(default=None, ge=0)
    offset: int | None = Field(default=None, ge=0)
    all: bool = False

    @model_validator(mode="after")
    def one_or_all(self) -> "ReplayRequest":
        single = self.partition is not None and self.offset is not None
        if self.all == single:
            raise ValueError('give either {"partition", "offset"} or {"all": true}')
        return self


@router.get("")
async def flows(ctx: Ctx, refresh: bool = False) -> dict:
    poller = ctx.poller
    snapshot = poller.latest
    if refresh or snapshot is None:
        try:
            snapshot = await poller.refresh()
        except Exception as exc:
            if poller.latest is None:
                raise ApiError(503, "kafka_unavailable", f"no snapshot of Kafka yet: {exc}") from exc
            snapshot = poller.latest  # serve the last good snapshot; age_s tells how old
    body = _graph(poller, snapshot)
    body["last_error"] = poller.last_error
    return body


@router.post("/refresh")
async def refresh(ctx: Ctx) -> dict:
    poller = ctx.poller
    return _graph(poller, await poller.refresh())


def _graph(poller: KafkaPoller, snapshot) -> dict:
    hidden = frozenset(bookkeeping_names(poller.settings))
    return build_flows(snapshot, poller.settings.kafka_topic_prefix, hidden=hidden)


@router.get("/dlq")
async def dlq_topics(ctx: Ctx) -> dict:
    return {"items": await ctx.dlq.list_dlqs()}


@router.get("/dlq/{topic}")
async def dlq_records(
    ctx: Ctx,
    topic: str,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    partition: Annotated[int | None, Query(ge=0)] = None,
) -> dict:
    limit = min(limit, ctx.settings.dlq_max_list)
    return await ctx.dlq.read(topic, limit, partition)


@router.post("/dlq/{topic}/replay")
async def replay(ctx: Ctx, topic: str, body: ReplayRequest) -> dict:
    service = ctx.dlq
    if body.all:
        return await service.replay_all(topic)
    return await service.replay_one(topic, body.partition, body.offset)
