"""The orchestrator's `chat.requests` consumer (main.chat_requests_consumer): the loop decodes each
record as a `ChatRequested` (alice_common.topics) and hands the handler the event; a record that is
not one is dead-lettered at once as an `InvalidRequest`, as when the handler parsed it. Pure logic,
with a recording producer and the handler's Kafka-facing methods."""

import asyncio
import json

import pytest
from aiokafka.structs import ConsumerRecord
from alice_common.events import ChatCompleted, ChatRequested
from alice_common.kafka import HEADER_ATTEMPTS, HEADER_ERROR_TYPE, HEADER_GROUP
from alice_orchestrator.chat import ChatHandler, InvalidRequest
from alice_orchestrator.main import chat_requests_consumer
from alice_orchestrator.providers.base import ModelUnavailable
from alice_orchestrator.settings import Settings

REQUEST = ChatRequested(conversation_id="c1", user_id="u1", message_id="m1", reply_id="r1", content="hi")


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict]] = []

    async def send_and_wait(self, topic, value=None, key=None, headers=None):
        self.sent.append((topic, value, dict(headers or ())))


def record(value: bytes | None) -> ConsumerRecord:
    return ConsumerRecord(
        topic="p.chat.requests", partition=0, offset=3, timestamp=0, timestamp_type=0, key=b"c1",
        value=value, checksum=None, serialized_key_size=2, serialized_value_size=0, headers=(),
    )  # fmt: skip


def consumer(handled: list, dead: list, producer: RecordingProducer, failures=(), **settings_values):
    settings = Settings(kafka_topic_prefix="p.", **settings_values)
    handler = ChatHandler(settings, store=None, redis=None, models=None, publish=None)
    pending = list(failures)

    async def handle(request: ChatRequested) -> None:  # the chat path itself is tested elsewhere
        if pending:
            raise pending.pop(0)
        handled.append(request)

    async def on_dead_letter(got: ConsumerRecord, exc: BaseException) -> None:
        dead.append(exc)

    handler.handle = handle
    handler.on_dead_letter = on_dead_letter
    return chat_requests_consumer(settings, handler, producer, deliveries=None)


async def test_a_request_reaches_the_chat_path_decoded():
    handled, dead, producer = [], [], RecordingProducer()
    loop = consumer(handled, dead, producer)
    assert (loop.topic, loop.group) == ("p.chat.requests", "p.orchestrator")
    await loop._handle_with_retries(record(REQUEST.to_bytes()))
    assert handled == [REQUEST] and dead == [] and producer.sent == []


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"\x00garbage",
        b'{"type": "ChatRequested", "reply_id": "r1", "user_id": "u1"',  # truncated
        json.dumps({"type": "ChatRequested", "reply_id": "r1", "user_id": "u1"}).encode(),  # fields missing
        ChatCompleted(
            conversation_id="c1", user_id="u1", user_message_id="m1", assistant_message_id="a1",
            reply_id="r1", user_content="q", assistant_content="a",
        ).to_bytes(),  # another event
    ],
)  # fmt: skip
async def test_a_poison_request_is_dead_lettered_at_once_as_an_invalid_request(value):
    handled, dead, producer = [], [], RecordingProducer()
    loop = consumer(handled, dead, producer)
    await asyncio.wait_for(loop._handle_with_retries(record(value)), 5)  # no retries, no backoff
    assert handled == []
    assert [type(exc) for exc in dead] == [InvalidRequest]
    ((topic, sent_value, headers),) = producer.sent
    assert (topic, sent_value) == ("p.chat.requests.dlq", value)
    assert headers[HEADER_ERROR_TYPE] == b"InvalidRequest"
    assert headers[HEADER_ATTEMPTS] == b"1"
    assert headers[HEADER_GROUP] == b"p.orchestrator"


async def test_an_unreachable_model_makes_the_request_wait_without_spending_attempts():
    handled, dead, producer = [], [], RecordingProducer()
    down = [ModelUnavailable("LLM endpoint unreachable: ConnectError")] * 2
    loop = consumer(handled, dead, producer, down, chat_max_attempts=1, chat_unavailable_give_up_s=45)
    assert loop.options.unavailable_give_up_s == 45
    await asyncio.wait_for(loop._handle_with_retries(record(REQUEST.to_bytes())), 10)
    assert handled == [REQUEST] and dead == [] and producer.sent == []


async def test_an_unreachable_model_fails_the_request_once_the_give_up_time_has_passed():
    handled, dead, producer = [], [], RecordingProducer()
    down = [ModelUnavailable("LLM endpoint unreachable: ConnectError")] * 100
    loop = consumer(handled, dead, producer, down, chat_unavailable_give_up_s=0)
    await asyncio.wait_for(loop._handle_with_retries(record(REQUEST.to_bytes())), 5)
    assert handled == [] and [type(exc) for exc in dead] == [ModelUnavailable]  # ends generation_failed
    ((topic, _, headers),) = producer.sent
    assert (topic, headers[HEADER_ERROR_TYPE], headers[HEADER_ATTEMPTS]) == (
        "p.chat.requests.dlq",
        b"ModelUnavailable",
        b"1",
    )
