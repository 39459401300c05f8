"""The topic registry (alice_common.topics) and what reads from it: publish, the consume loop's
decoding and groups, its options. Pure logic, with a recording producer."""

import asyncio
import dataclasses
import json

import pytest
from aiokafka.structs import ConsumerRecord
from alice_common import topics
from alice_common.events import (
    ChatCompleted,
    ChatRequested,
    DocumentUploaded,
    Event,
    UserDeleted,
    parse_event,
)
from alice_common.kafka import HEADER_ATTEMPTS, HEADER_ERROR_TYPE, ConsumeLoop, ConsumeOptions, publish
from alice_common.kafka.failures import PermanentError, UndecodableEvent
from alice_common.settings import AliceSettings

SETTINGS = AliceSettings(kafka_topic_prefix="p.")


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send(self, topic, value=None, key=None, headers=None):
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": dict(headers or ())})
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_and_wait(self, topic, value=None, key=None, headers=None):
        await (await self.send(topic, value, key, headers))


def request(**fields) -> ChatRequested:
    return ChatRequested(
        **{"conversation_id": "c1", "user_id": "u1", "message_id": "m1", "reply_id": "r1", "content": "hi"}
        | fields
    )


def record(value: bytes | None, topic: str = "p.chat.requests") -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic, partition=0, offset=5, timestamp=0, timestamp_type=0, key=b"c1", value=value,
        checksum=None, serialized_key_size=2, serialized_value_size=len(value or b""), headers=(),
    )  # fmt: skip


def test_every_topic_is_declared_once_with_an_event_of_its_own():
    names = [t.name for t in topics.ALL]
    assert len(set(names)) == len(names)
    assert len({t.event_type for t in topics.ALL}) == len(topics.ALL)
    assert all(topics.by_name(t.name) is t for t in topics.ALL)
    groups = [g for t in topics.ALL for g in t.groups]
    assert len(set(groups)) == len(groups), "one consumer group reads one topic"


def test_a_key_that_is_not_a_field_of_the_event_is_refused():
    with pytest.raises(ValueError, match="no field 'document_id'"):
        topics.Topic("x", ChatRequested, key="document_id", producers=("backend",))


def test_services_ensure_what_they_produce_or_consume():
    assert topics.used_by("backend") == (
        topics.CHAT_REQUESTS,
        topics.DOCUMENTS_UPLOADED,
        topics.USERS_DELETED,
    )
    assert topics.used_by("orchestrator") == (
        topics.CHAT_REQUESTS,
        topics.CHAT_COMPLETED,
        topics.CONVERSATIONS_DELETED,
        topics.USERS_DELETED,
    )
    assert set(topics.used_by("dataflow")) == {
        topics.CHAT_COMPLETED,
        topics.DOCUMENTS_UPLOADED,
        topics.DOCUMENTS_INDEXED,
        topics.CONVERSATIONS_DELETED,
        topics.USERS_DELETED,
    }
    assert topics.producers() == {
        "backend": ("chat.requests", "documents.uploaded", "users.deleted"),
        "orchestrator": ("chat.completed", "conversations.deleted"),
        "dataflow": ("documents.indexed",),
    }
    assert topics.CHAT_COMPLETED.group_of("dataflow") == "dataflow"
    assert topics.USERS_DELETED.groups == ("orchestrator-user-deletions", "dataflow-user-deletions")
    assert topics.USERS_DELETED.key_of(UserDeleted(user_id="u-9")) == "u-9"
    with pytest.raises(LookupError):
        topics.CHAT_COMPLETED.group_of("backend")


async def test_publish_to_a_registry_topic_takes_the_key_from_the_event():
    producer = RecordingProducer()
    event = request(conversation_id="conv-7")
    await publish(producer, SETTINGS, topics.CHAT_REQUESTS, event)
    (sent,) = producer.sent
    assert (sent["topic"], sent["key"]) == ("p.chat.requests", b"conv-7")
    assert sent["headers"]["alice.event.type"] == b"ChatRequested"
    assert ChatRequested.model_validate_json(sent["value"]) == event


async def test_publish_refuses_another_event_type_or_a_key_of_its_own():
    producer = RecordingProducer()
    uploaded = DocumentUploaded(
        document_id="d1", user_id="u1", filename="a", content_type="text/plain", size=1, blob_id="b"
    )
    with pytest.raises(TypeError, match="carries ChatRequested, not DocumentUploaded"):
        await publish(producer, SETTINGS, topics.CHAT_REQUESTS, uploaded)
    with pytest.raises(TypeError, match="'conversation_id'"):
        await publish(producer, SETTINGS, topics.CHAT_REQUESTS, request(), key="other")
    with pytest.raises(TypeError, match="needs a key"):
        await publish(producer, SETTINGS, "jobs", request())
    assert producer.sent == []
    await publish(producer, SETTINGS, "jobs", request(), key="k")  # a test's own topic
    assert [(s["topic"], s["key"]) for s in producer.sent] == [("p.jobs", b"k")]


async def _ignore(*_args) -> None:
    return None


def test_a_loop_on_a_registry_topic_decodes_its_event_and_only_for_declared_groups():
    loop = ConsumeLoop(SETTINGS, topics.CHAT_COMPLETED, "dataflow", _ignore, RecordingProducer())
    assert (loop.topic, loop.group, loop.event_type) == ("p.chat.completed", "p.dataflow", ChatCompleted)
    with pytest.raises(ValueError, match=r"'intruder' is not a consumer of chat\.completed"):
        ConsumeLoop(SETTINGS, topics.CHAT_COMPLETED, "intruder", _ignore, RecordingProducer())
    with pytest.raises(ValueError, match="carries ChatCompleted, not ChatRequested"):
        ConsumeLoop(SETTINGS, topics.CHAT_COMPLETED, "dataflow", _ignore, None, event_type=ChatRequested)


class Refused(PermanentError):
    pass


@pytest.mark.parametrize(
    ("value", "decode_error"),
    [
        (b"{not json", UndecodableEvent),
        (None, UndecodableEvent),
        (ChatCompleted(conversation_id="c", user_id="u", user_message_id="m", assistant_message_id="a",
                       reply_id="r", user_content="q", assistant_content="a").to_bytes(), Refused),
        (json.dumps({"type": "ChatRequested", "reply_id": "r1"}).encode(), Refused),
    ],
)  # fmt: skip
async def test_an_undecodable_record_is_dead_lettered_at_once_as_the_decode_error(value, decode_error):
    producer, handled, dead = RecordingProducer(), [], []

    async def handle(event: Event, _record) -> None:
        handled.append(event)

    async def on_dead_letter(_record, exc) -> None:
        dead.append(exc)

    named = {} if decode_error is UndecodableEvent else {"decode_error": decode_error}
    group = topics.CHAT_REQUESTS.group_of("orchestrator")
    loop = ConsumeLoop(
        SETTINGS, topics.CHAT_REQUESTS, group, handle, producer, on_dead_letter=on_dead_letter, **named
    )
    await loop._handle_with_retries(record(value))
    assert handled == []
    assert [type(exc) for exc in dead] == [decode_error]
    (sent,) = producer.sent
    assert sent["topic"] == "p.chat.requests.dlq" and sent["value"] == value
    assert sent["headers"][HEADER_ERROR_TYPE] == decode_error.__name__.encode()
    assert sent["headers"][HEADER_ATTEMPTS] == b"1"


async def test_a_valid_record_reaches_the_handler_decoded():
    producer, handled = RecordingProducer(), []

    async def handle(event: Event, got: ConsumerRecord) -> None:
        handled.append((event, got.offset))

    loop = ConsumeLoop(SETTINGS, topics.CHAT_REQUESTS, "orchestrator", handle, producer)
    await loop._handle_with_retries(record(request().to_bytes()))
    assert [(type(e), e.reply_id, offset) for e, offset in handled] == [(ChatRequested, "r1", 5)]
    assert producer.sent == []


def test_options_are_one_immutable_object_with_the_documented_defaults():
    options = ConsumeOptions()
    assert (options.max_concurrency, options.max_attempts, options.drain_timeout_s) == (8, 7, 10.0)
    assert (options.retry_backoff_s, options.retry_max_backoff_s, options.max_solo_crashes) == (0.5, 15.0, 3)
    assert (options.revoke_timeout_s, options.max_buffered_per_partition, options.commit_interval_s) == (
        5.0,
        1000,
        0.5,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_attempts = 1  # type: ignore[misc]
    for field in ("max_concurrency", "max_attempts", "max_buffered_per_partition", "max_solo_crashes"):
        with pytest.raises(ValueError, match="must be ≥ 1"):
            ConsumeOptions(**{field: 0})
    with pytest.raises(TypeError):
        ConsumeOptions(8)  # type: ignore[misc]  # keywords only: no guessing which number is which


def test_user_deleted_round_trips_through_its_wire_form():
    event = UserDeleted(user_id="u-42")
    parsed = parse_event(event.to_bytes())
    assert isinstance(parsed, UserDeleted)
    assert (parsed.type, parsed.user_id, parsed.event_id) == ("UserDeleted", "u-42", event.event_id)


def test_where_a_message_goes_in_the_tree_round_trips_and_older_records_read_as_unnamed():
    for place in ({"parent_id": "r0"}, {"edit_of": "m0"}):
        parsed = parse_event(request(**place).to_bytes())
        assert isinstance(parsed, ChatRequested) and (parsed.parent_id, parsed.edit_of) == (
            place.get("parent_id"),
            place.get("edit_of"),
        )
    # A record published before these fields existed (a rolling upgrade): neither is named.
    older = json.loads(request().to_bytes())
    del older["parent_id"], older["edit_of"]
    parsed = parse_event(json.dumps(older).encode())
    assert (parsed.parent_id, parsed.edit_of) == (None, None)
