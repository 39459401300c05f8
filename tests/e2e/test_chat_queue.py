"""Waiting for the model, visibly (issue 13): with one local model instance (`LLM_LOCAL_CONCURRENCY=1`)
replies sent while another is generating say `status queued` with their place in line, move up as
the line moves, then say `generating`; a reply stopped while it waits leaves the line. Real
backend + orchestrator with the real SmolLM2 model, over Kafka, Redis and MongoDB."""

import asyncio

import httpx
import pytest
from alice_common.reply_stream import DONE, GENERATING, QUEUED, STATUS, TOKEN

from tests.support.stack import UNTHROTTLED, Stack, isolation, new_conversation, register, send, sse_events

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

LONG = "Write a long story about a lighthouse keeper and a storm, with many details."
SHORT = "Name a fruit."


@pytest.fixture(scope="module")
def stack(infra):
    orchestrator = dict(
        llm_provider="local",
        llm_local_concurrency=1,
        llm_max_tokens=160,
        llm_temperature=0.2,
        ready_timeout_s=120,
    )
    with Stack(infra, isolation("queue"), orchestrator=orchestrator, backend=UNTHROTTLED) as up:
        yield up["backend"].url


@pytest.fixture
async def api(stack):
    async with httpx.AsyncClient(base_url=stack, timeout=30) as client:
        yield client


class Reply:
    """One user's sent message and its reply stream, read as it arrives."""

    def __init__(self, api: httpx.AsyncClient, auth: dict, accepted: dict):
        self.api, self.auth, self.accepted = api, auth, accepted
        self.id = accepted["reply_id"]
        self.events: list[dict] = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(
            sse_events(api, accepted["stream_url"], auth, on_event=self._seen, read_timeout_s=300)
        )

    @classmethod
    async def send(cls, api: httpx.AsyncClient, content: str) -> "Reply":
        auth = await register(api)
        conversation = await new_conversation(api, auth)
        return cls(api, auth, await send(api, auth, conversation, content))

    async def _seen(self, event: dict) -> None:
        self.events.append(event)
        self.changed.set()

    def statuses(self) -> list[dict]:
        return [e["data"] for e in self.events if e["event"] == STATUS]

    def positions(self) -> list[int]:
        return [s["position"] for s in self.statuses() if "position" in s]

    async def until(self, condition, timeout_s: float = 120) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    async def finished(self) -> dict:
        events = await asyncio.wait_for(self.task, 300)
        assert events[-1]["event"] == DONE, events[-3:]
        return events[-1]["data"]["message"]


def assert_waited_then_generated(reply: Reply, positions: list[int]) -> None:
    """What the user sees, in order: accepted, each place in line, generating, then the text."""
    kinds = [e["event"] for e in reply.events]
    first_token = kinds.index(TOKEN)
    assert all(kind == STATUS for kind in kinds[:first_token]), kinds
    assert reply.statuses() == [
        {"state": QUEUED},
        *({"state": QUEUED, "position": position} for position in positions),
        {"state": GENERATING},
    ]


async def test_replies_waiting_for_the_model_show_their_place_in_line_then_complete(api):
    first = await Reply.send(api, LONG)
    await first.until(lambda: TOKEN in [e["event"] for e in first.events])
    second, third = await asyncio.gather(Reply.send(api, SHORT), Reply.send(api, SHORT))

    messages = [await reply.finished() for reply in (first, second, third)]
    assert all(m["status"] == "completed" and m["content"].strip() for m in messages), messages
    assert first.statuses() == [{"state": QUEUED}, {"state": GENERATING}]  # served at once
    # The two sent together queue in the order the orchestrator picked them up: one is next,
    # the other second and then next.
    nearer, farther = sorted((second, third), key=lambda reply: len(reply.positions()))
    assert_waited_then_generated(nearer, [1])
    assert_waited_then_generated(farther, [2, 1])


async def test_a_reply_stopped_while_waiting_leaves_the_line_and_the_one_behind_moves_up(api):
    first = await Reply.send(api, LONG)
    await first.until(lambda: TOKEN in [e["event"] for e in first.events])
    second, third = await asyncio.gather(Reply.send(api, SHORT), Reply.send(api, SHORT))
    await second.until(lambda: second.positions() != [])
    await third.until(lambda: third.positions() != [])
    nearer, farther = (second, third) if second.positions() == [1] else (third, second)
    assert (nearer.positions(), farther.positions()) == ([1], [2])

    stop = await api.post(f"/api/replies/{nearer.id}/stop", headers=nearer.auth)
    assert stop.status_code == 202, stop.text
    stopped = await nearer.finished()
    assert stopped["status"] == "stopped" and stopped["content"] == ""
    assert TOKEN not in [e["event"] for e in nearer.events]
    # The one behind moves up while the first is still generating.
    await farther.until(lambda: farther.positions() == [2, 1])
    assert not first.task.done()

    assert (await first.finished())["status"] == "completed"
    last = await farther.finished()
    assert last["status"] == "completed" and last["content"].strip()
    assert_waited_then_generated(farther, [2, 1])
