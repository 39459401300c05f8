"""The admin views' wire models: kafkaflow's flow graph and dead-letter topics, the dataflow's stats.

kafkaflow and the dataflow declare these as the `response_model` of their endpoints, and the
backend's `/api/admin/...` proxy reads and answers with the same ones, so the public OpenAPI
document (and the frontend types generated from it) names every field the admin page draws.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alice_common.wire import left_out_when_absent

KeyEncoding = Literal["null", "text", "base64"]
ValueEncoding = Literal["null", "json", "text", "base64"]


class _Edge(BaseModel):
    # `from` is a Python keyword: the field is `source` in code and `from` on the wire.
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    source: str = Field(alias="from", description="id of the node the edge leaves")
    to: str = Field(description="id of the node the edge enters")


class ServiceNode(BaseModel):
    kind: Literal["service"]
    id: str = Field(description="`service:<name>`")
    name: str


class PartitionOffsets(BaseModel):
    partition: int
    oldest_offset: int
    end_offset: int


class TopicNode(BaseModel):
    kind: Literal["topic"]
    id: str = Field(description="`topic:<name>`")
    name: str = Field(description="the topic's name without `KAFKA_TOPIC_PREFIX`")
    kafka_name: str
    dlq: bool = Field(description="a dead-letter topic (`.dlq` suffix)")
    partitions: int
    end_offset: int = Field(description="sum of the partitions' end offsets")
    records: int = Field(description="records still stored (end - oldest over partitions)")
    messages_per_second: float
    partition_offsets: list[PartitionOffsets]


class ConsumerGroupNode(BaseModel):
    kind: Literal["consumer_group"]
    id: str = Field(description="`group:<name>`")
    name: str
    kafka_name: str
    state: str
    members: int
    lag: int
    messages_per_second: float


FlowNode = Annotated[ServiceNode | TopicNode | ConsumerGroupNode, Field(discriminator="kind")]


class PartitionLag(BaseModel):
    partition: int
    end_offset: int
    committed_offset: int = Field(description="-1: the group has no committed offset there")
    lag: int


class ProducesEdge(_Edge):
    kind: Literal["produces"]


class ConsumesEdge(_Edge):
    kind: Literal["consumes"]
    lag: int
    messages_per_second: float
    partitions: list[PartitionLag]


class DeadLettersEdge(_Edge):
    kind: Literal["dead_letters"]


FlowEdge = Annotated[ProducesEdge | ConsumesEdge | DeadLettersEdge, Field(discriminator="kind")]


class FlowGraph(BaseModel):
    """Services produce to topics, consumer groups consume them, topics dead-letter to `.dlq` topics."""

    prefix: str
    taken_at: float = Field(description="unix seconds of the snapshot")
    age_s: float
    brokers: int
    nodes: list[FlowNode]
    edges: list[FlowEdge]


class FlowView(FlowGraph):
    last_error: str | None = Field(description="why the last poll of Kafka failed; null when it succeeded")


class DlqTopic(BaseModel):
    topic: str
    kafka_name: str
    source_topic: str
    source_exists: bool
    partitions: int
    records: int
    pending_replay: int = Field(description="records not replayed yet")


class DlqTopicList(BaseModel):
    items: list[DlqTopic]


class RecordHeader(BaseModel):
    key: str
    value: str = Field(description="UTF-8 text, or `base64:` and the bytes")


class DlqRecord(BaseModel):
    partition: int
    offset: int
    timestamp: str = Field(description="ISO-8601, UTC")
    key: str | None
    key_encoding: KeyEncoding
    value: Any = Field(description="JSON when the bytes are JSON, else text, else base64 text")
    value_encoding: ValueEncoding
    headers: list[RecordHeader]
    error: str | None = Field(description="the error the dead-lettering recorded")
    replayed: bool


class DlqRecordPage(BaseModel):
    topic: str
    kafka_name: str
    total: int = Field(description="records stored in the partitions read")
    records: list[DlqRecord]


class ReplayRequest(BaseModel):
    """One record (`partition` and `offset`), or every pending one (`all`)."""

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


class ReplayedRecord(BaseModel):
    partition: int
    offset: int
    target_topic: str
    target_partition: int
    target_offset: int


class ReplayResult(BaseModel):
    replayed: int
    skipped_already_replayed: int | None = Field(
        default=None,
        description="`all` only: records left out because they were replayed one by one before",
        json_schema_extra=left_out_when_absent,
    )
    records: list[ReplayedRecord]


class LatencyPercentiles(BaseModel):
    p50: float | None = Field(description="milliseconds; null for a day without a measured reply")
    p95: float | None


class DayStats(BaseModel):
    day: str = Field(description="UTC day, `YYYY-MM-DD`")
    messages: int
    replies: int
    active_users: int
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: LatencyPercentiles


class StatsTotals(BaseModel):
    messages: int
    replies: int
    tokens: int
    prompt_tokens: int
    completion_tokens: int


class DailyStats(BaseModel):
    """Days with at least one reply, oldest first, and their sums."""

    days: list[DayStats]
    totals: StatsTotals
