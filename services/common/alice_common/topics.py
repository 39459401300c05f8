"""Every Kafka topic of Alice, declared once: its name, the event it carries, the event field that
is its key, and the services that produce and consume it (as faust declares
`app.topic(name, key_type=..., value_type=...)`).

Everything else reads from here: `ensure_topics` and `publish` take a `Topic`, a `ConsumeLoop`
given a `Topic` decodes its records as `topic.event_type` and accepts only a declared consumer
group, kafkaflow draws its flow map from `producers()`, and tests/deploy checks the KEDA trigger
against `consumers`. To add a topic: docs/kafka.md, "Adding a topic".

Names here are without `KAFKA_TOPIC_PREFIX`; `settings.topic(name)` adds it.
"""

from dataclasses import dataclass
from typing import Generic, TypeVar

from alice_common.events import (
    ChatCompleted,
    ChatRequested,
    ConversationDeleted,
    DocumentIndexed,
    DocumentUploaded,
    Event,
    UserDeleted,
)

E = TypeVar("E", bound=Event)

DLQ_SUFFIX = ".dlq"


def dlq_name(topic: str) -> str:
    """The dead-letter topic of `topic` (prefixed or not, it only appends)."""
    return f"{topic}{DLQ_SUFFIX}"


@dataclass(frozen=True)
class Consumer:
    service: str
    group: str  # without the prefix; `settings.group(group)` adds it


@dataclass(frozen=True)
class Topic(Generic[E]):
    name: str
    event_type: type[E]
    # The event field whose value is the record key: same key, same partition, handled in order.
    key: str
    producers: tuple[str, ...]
    consumers: tuple[Consumer, ...] = ()

    def __post_init__(self) -> None:
        if self.key not in self.event_type.model_fields:
            raise ValueError(f"{self.event_type.__name__} has no field {self.key!r} to key {self.name}")

    @property
    def dlq(self) -> str:
        return dlq_name(self.name)

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(c.group for c in self.consumers)

    def key_of(self, event: E) -> str:
        return getattr(event, self.key)

    def group_of(self, service: str) -> str:
        """The consumer group `service` reads this topic with."""
        for consumer in self.consumers:
            if consumer.service == service:
                return consumer.group
        raise LookupError(f"{service} does not consume {self.name}")


CHAT_REQUESTS = Topic(
    "chat.requests",
    ChatRequested,
    key="conversation_id",
    producers=("backend",),
    consumers=(Consumer("orchestrator", "orchestrator"),),
)
CHAT_COMPLETED = Topic(
    "chat.completed",
    ChatCompleted,
    key="conversation_id",
    producers=("orchestrator",),
    consumers=(Consumer("dataflow", "dataflow"),),  # memory indexing and analytics
)
DOCUMENTS_UPLOADED = Topic(
    "documents.uploaded",
    DocumentUploaded,
    key="document_id",
    producers=("backend",),
    consumers=(Consumer("dataflow", "dataflow-documents"),),
)
DOCUMENTS_INDEXED = Topic(
    "documents.indexed",
    DocumentIndexed,
    key="document_id",
    producers=("dataflow",),
    consumers=(),  # no consumer in Alice yet: the outcome of each upload, for whoever needs it
)
CONVERSATIONS_DELETED = Topic(
    "conversations.deleted",
    ConversationDeleted,
    key="conversation_id",
    producers=("orchestrator",),
    consumers=(Consumer("dataflow", "dataflow-deletions"),),
)
USERS_DELETED = Topic(
    "users.deleted",
    UserDeleted,
    key="user_id",
    producers=("backend",),
    consumers=(
        Consumer("orchestrator", "orchestrator-user-deletions"),
        Consumer("dataflow", "dataflow-user-deletions"),
    ),
)

ALL: tuple[Topic, ...] = (
    CHAT_REQUESTS,
    CHAT_COMPLETED,
    DOCUMENTS_UPLOADED,
    DOCUMENTS_INDEXED,
    CONVERSATIONS_DELETED,
    USERS_DELETED,
)


def by_name(name: str) -> Topic:
    for topic in ALL:
        if topic.name == name:
            return topic
    raise LookupError(f"no topic {name!r} in alice_common.topics")


def used_by(service: str) -> tuple[Topic, ...]:
    """The topics `service` produces or consumes: what it ensures at start-up."""
    return tuple(t for t in ALL if service in t.producers or service in (c.service for c in t.consumers))


def producers() -> dict[str, tuple[str, ...]]:
    """Service → the names of the topics it produces, in declaration order."""
    produced: dict[str, tuple[str, ...]] = {}
    for topic in ALL:
        for service in topic.producers:
            produced[service] = (*produced.get(service, ()), topic.name)
    return produced
