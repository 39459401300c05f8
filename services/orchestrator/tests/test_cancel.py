"""Stop requests: the handler notices `cancel:{reply_id}` quickly and keeps the partial reply."""

import asyncio
import time

from alice_common.reply_stream import TOKEN, ReplyStream, cancel_key
from alice_orchestrator.chat.generation import generate
from alice_orchestrator.chat.records import recover_ids
from alice_orchestrator.providers.fake import FakeProvider
from alice_orchestrator.settings import Settings


class FakeRedis:
    """Just the commands `generate` uses (unit test only; integration tests use real Redis)."""

    def __init__(self):
        self.keys: set[str] = set()
        self.stream: list[dict] = []

    async def exists(self, *keys: str) -> int:
        return sum(key in self.keys for key in keys)

    async def xadd(self, key: str, fields: dict) -> str:
        self.stream.append(fields)
        return f"{len(self.stream)}-0"


SETTINGS = Settings(llm_max_tokens=1500, cancel_poll_interval_ms=200)


async def run(provider, redis: FakeRedis, reply_id: str, messages: list[dict], settings: Settings = SETTINGS):
    return await generate(settings, redis, provider, reply_id, messages, ReplyStream(redis, reply_id))  # type: ignore[arg-type]


async def test_cancel_stops_generation_within_a_second_and_keeps_partial_content():
    redis = FakeRedis()
    provider = FakeProvider(token_interval_ms=10)  # would take 15 s to finish

    async def press_stop():
        await asyncio.sleep(0.5)
        redis.keys.add(cancel_key("r1"))
        return time.monotonic()

    stop_task = asyncio.create_task(press_stop())
    outcome = await run(provider, redis, "r1", [{"role": "user", "content": "hi"}])
    ended = time.monotonic()
    pressed = await stop_task
    assert outcome.status == "stopped"
    assert ended - pressed < 1.0
    assert outcome.content, "tokens generated before the stop are kept"
    import json

    streamed = "".join(json.loads(e["data"])["delta"] for e in redis.stream if e["event"] == TOKEN)
    assert streamed == outcome.content


async def test_generation_without_cancel_completes():
    redis = FakeRedis()
    settings = SETTINGS.model_copy(update={"llm_max_tokens": 7})
    hello = [{"role": "user", "content": "hi"}]
    outcome = await run(FakeProvider(token_interval_ms=0), redis, "r2", hello, settings)
    assert outcome.status == "completed"
    assert outcome.completion_tokens == 7
    assert len(outcome.content.split()) == 7


async def test_a_model_that_stalls_still_stops_in_time():
    """A model stuck before its next token (e.g. a long prompt) must not delay the stop."""
    from alice_orchestrator.providers.base import Generation

    class Stalling:
        model = "stall"
        queues_requests = False

        def count_tokens(self, text):
            return 1

        def stream(self, messages, *, max_tokens, temperature, **_options):
            async def deltas():
                yield "first"
                await asyncio.sleep(60)
                yield "never"

            return Generation(deltas=deltas())

    redis = FakeRedis()
    redis.keys.add(cancel_key("r3"))
    started = time.monotonic()
    outcome = await run(Stalling(), redis, "r3", [])
    assert time.monotonic() - started < 1.0
    assert outcome.status == "stopped"


def test_ids_are_recovered_from_broken_records_for_the_error_event():
    both = {"reply_id": "r1", "user_id": "u1"}
    assert recover_ids(b'{"reply_id": "r1", "user_id": "u1", "content": 5}') == both
    truncated = b'{"type": "ChatRequested", "reply_id": "r1", "user_id": "u1", "content": "tru'
    assert recover_ids(truncated) == both
    assert recover_ids(b"\x00garbage") == {}
    assert recover_ids(None) == {}
    assert recover_ids(b'{"reply_id": 7}') == {}


async def test_many_generations_share_one_stop_poll_and_only_the_stopped_one_stops():
    class Counting(FakeRedis):
        calls = 0

        async def exists(self, *keys: str) -> int:
            Counting.calls += 1
            return await super().exists(*keys)

    redis = Counting()
    settings = SETTINGS.model_copy(update={"llm_max_tokens": 60, "cancel_poll_interval_ms": 100})
    hello = [{"role": "user", "content": "hi"}]
    provider = FakeProvider(token_interval_ms=20)  # about 1.2 s each

    async def press_stop():
        await asyncio.sleep(0.4)
        redis.keys.add(cancel_key("g3"))

    stopper = asyncio.create_task(press_stop())
    outcomes = await asyncio.gather(*(run(provider, redis, f"g{i}", hello, settings) for i in range(20)))
    await stopper
    assert [o.status for o in outcomes] == ["stopped" if i == 3 else "completed" for i in range(20)]
    # About one poll per 100 ms for all twenty (plus the look-up of who was stopped), not twenty.
    assert Counting.calls < 40, Counting.calls
