"""Chat through a crash schedule (issue 22): users who behave as docs/api.md tells clients to, a
schedule of orchestrator kills and store restarts, and what the users got, checked.

Shared by tests/e2e/test_chaos.py, tests/cluster/test_resilience.py and bench/crash_cost.py.

The users send at a steady pace (each message a new one, not waiting for the previous reply) and
follow every reply stream to its end: a refused or failed send (429, 5xx, no answer) is retried
after its `Retry-After` with the same `Idempotency-Key`; a dropped stream is resumed with
`Last-Event-ID`, a refused one retried; `reset` discards the text so far.
"""

import asyncio
import bisect
import contextlib
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner
from alice_common.reply_stream import DONE, FAILED, RESET, TOKEN

from tests.support.stack import new_conversation, parse_sse, register

# docs/api.md, "Retrying a send": not caused by the request; retried after Retry-After, same key
# (409: an attempt with this key is still running).
RETRIED = {409, 429, 500, 502, 503, 504}
QUESTIONS = ("a colour", "an animal", "a fruit", "a city", "a tree", "a river", "a tool", "a bird")


@dataclass
class Message:
    """One composed message as its user saw it: the attempts to send it, then its reply stream."""

    user: int
    conversation: str
    content: str
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    refusals: list[str] = field(default_factory=list)  # status (or exception) of each refused send
    rejected: str | None = None  # a non-retryable answer: a defect
    accepted: dict | None = None  # the 202 body
    events: list[dict] = field(default_factory=list)  # the stream, resumed across drops
    stream_refusals: list[int] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]

    @property
    def ended(self) -> bool:
        return bool(self.events) and self.events[-1]["event"] in (DONE, FAILED)

    def text_after_last_reset(self) -> str:
        kinds = self.kinds
        start = max((i for i, k in enumerate(kinds) if k == RESET), default=-1) + 1
        return "".join(e["data"]["delta"] for e in self.events[start:] if e["event"] == TOKEN)


@dataclass
class ChatUser:
    index: int
    auth: dict[str, str]
    conversation: str


async def new_users(api: httpx.AsyncClient, count: int, prefix: str) -> list[ChatUser]:
    users = []
    for i in range(count):
        auth = await register(api, prefix)
        users.append(ChatUser(i, auth, await new_conversation(api, auth)))
    return users


def partition_of(conversation: str, partitions: int) -> int:
    """The `chat.requests` partition of a conversation (keyed by its id, the producer's default
    partitioner)."""
    return DefaultPartitioner()(conversation.encode(), list(range(partitions)), [])


async def users_on_every_partition(api: httpx.AsyncClient, partitions: int, prefix: str) -> list[ChatUser]:
    """One user per partition of `chat.requests`, user i's conversation on partition i: whatever
    partitions a consumer is assigned, some users' requests reach it. (The empty conversations
    made on the way stay in the users' lists.)"""
    users = []
    for i in range(partitions):
        auth = await register(api, prefix)
        conversation = await new_conversation(api, auth)
        while partition_of(conversation, partitions) != i:
            conversation = await new_conversation(api, auth)
        users.append(ChatUser(i, auth, conversation))
    return users


@dataclass
class Schedule:
    """`kills` kills, `interval_s` apart, each followed by a restart. The victim must have been
    ready (consumer assigned, taking work) for `dwell_s` before it is killed again: when a busy
    machine restarts it too slowly for that, the kill waits (the victim must be ready within
    `start_bound_s`) and is counted as late, since a kill during start-up tests nothing. Without
    a readiness signal (the cluster) the interval alone decides. The first kill comes after
    `warmup_s` of traffic; `restarts[k]` runs (in the background) right after kill k. Each user
    composes a message every `pace_s` until the last kill. Every accepted message's reply must
    end within `drain_s` after the last kill (and the restarts); a send is retried until then (a
    refused send is not a defect: a 503 means nothing was accepted, e.g. while no orchestrator
    can check the conversation)."""

    kills: int = 20
    interval_s: float = 14.5
    dwell_s: float = 3.0
    warmup_s: float = 8.0
    pace_s: float = 40.0
    restarts: dict[int, tuple[str, Callable[[], Awaitable[None]]]] = field(default_factory=dict)
    drain_s: float = 240.0
    start_bound_s: float = 90.0


@dataclass
class Outcome:
    messages: list[Message] = field(default_factory=list)
    kill_times: list[float] = field(default_factory=list)  # wall clock of each kill (time.time())
    kill_gaps_s: list[float] = field(default_factory=list)  # between the starts of two kills
    restarts: list[str] = field(default_factory=list)  # "kafka restarted in 12.3 s after kill 5"
    undrained: int = 0  # messages still unfinished at the drain bound
    late_kills: int = 0  # kills more than interval_s after the previous: the victim was still starting
    duration_s: float = 0.0

    @property
    def accepted(self) -> list[Message]:
        return [m for m in self.messages if m.accepted]

    def reset_share(self) -> float:
        accepted = self.accepted
        return sum(RESET in m.kinds for m in accepted) / len(accepted) if accepted else 0.0

    def crash_costs_s(self) -> tuple[list[float], int]:
        """Per kill, the time from the kill to the first token generated after it (an event id is
        the Redis stream id: milliseconds of the server's clock, this machine's); kills followed by
        another kill before any token are counted apart (censored), not in the list."""
        tokens = sorted(
            int(e["id"].split("-")[0]) / 1000 for m in self.messages for e in m.events if e["event"] == TOKEN
        )
        costs, censored = [], 0
        for i, killed in enumerate(self.kill_times):
            j = bisect.bisect_right(tokens, killed)
            following = self.kill_times[i + 1] if i + 1 < len(self.kill_times) else float("inf")
            if j < len(tokens) and tokens[j] < following:
                costs.append(tokens[j] - killed)
            else:
                censored += 1
        return costs, censored

    def summary(self) -> str:
        accepted = self.accepted
        gaps = f"{max(self.kill_gaps_s):.1f}" if self.kill_gaps_s else "-"
        return (
            f"{len(self.messages)} messages composed, {len(accepted)} accepted "
            f"({sum(len(m.refusals) for m in self.messages)} send attempts refused meanwhile), "
            f"{len(self.kill_times)} kills (largest gap {gaps} s, {self.late_kills} late: still starting), "
            f"{'; '.join(self.restarts) or 'no restarts'}; "
            f"{self.reset_share():.0%} of the accepted needed a reset; {self.crash_cost_line()}; "
            f"{self.duration_s:.0f} s"
        )

    def crash_cost_line(self) -> str:
        costs, censored = self.crash_costs_s()
        if not costs:
            return f"no token between any two kills ({censored} kills)"
        return (
            f"kill to first token again: median {statistics.median(costs):.1f} s, "
            f"p90 {percentile(costs, 90):.1f} s over {len(costs)} kills ({censored} censored)"
        )


async def run(
    api: httpx.AsyncClient,
    users: list[ChatUser],
    schedule: Schedule,
    kill: Callable[[], Awaitable[None]],
    ready: Callable[[], Awaitable[None]] | None = None,
    on_progress: Callable[[str], None] = print,
) -> Outcome:
    """Runs the schedule with the users chatting through it; returns what they saw. `kill()`
    kills the victim and has it started again; `ready()` returns once the victim is ready."""
    outcome = Outcome()
    began = time.monotonic()
    stop = asyncio.Event()
    period_s = schedule.pace_s
    deliveries: list[asyncio.Task] = []

    async def chat(user: ChatUser) -> None:
        await asyncio.sleep(user.index * period_s / len(users))
        i = 0
        while not stop.is_set():
            question = QUESTIONS[(user.index + i) % len(QUESTIONS)]
            content = f"[u{user.index} m{i}] Name {question}, in one short sentence."
            message = Message(user.index, user.conversation, content)
            outcome.messages.append(message)
            deliveries.append(asyncio.create_task(deliver(api, user, message)))
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period_s)

    async def restart(k: int, name: str, action: Callable[[], Awaitable[None]]) -> None:
        started = time.monotonic()
        await action()
        outcome.restarts.append(f"{name} restarted in {time.monotonic() - started:.1f} s after kill {k}")
        on_progress(f"  {outcome.restarts[-1]}")

    chatting = [asyncio.create_task(chat(user)) for user in users]
    restarting: list[asyncio.Task] = []
    try:
        await asyncio.sleep(schedule.warmup_s)
        previous: float | None = None
        for k in range(1, schedule.kills + 1):
            if previous is not None:
                if await wait_for_next_kill(schedule, previous + schedule.interval_s, ready):
                    outcome.late_kills += 1
                outcome.kill_gaps_s.append(time.monotonic() - previous)
            previous = time.monotonic()
            outcome.kill_times.append(time.time())
            await kill()
            if k in schedule.restarts:
                name, action = schedule.restarts[k]
                restarting.append(asyncio.create_task(restart(k, name, action)))
            done = sum(m.ended for m in outcome.messages)
            on_progress(
                f"  kill {k}/{schedule.kills} at {previous - began:.0f} s: "
                f"{len(outcome.accepted)}/{len(outcome.messages)} accepted, {done} replies ended"
            )
    except BaseException:
        for task in [*chatting, *restarting, *deliveries]:
            task.cancel()
        raise
    finally:
        stop.set()
        await asyncio.gather(*chatting, return_exceptions=True)
    await asyncio.gather(*restarting)
    finished, unfinished = set(), set()
    if deliveries:
        finished, unfinished = await asyncio.wait(deliveries, timeout=schedule.drain_s)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    for task in finished:
        task.result()  # a bug in the driver itself surfaces here
    outcome.undrained = len(unfinished)
    outcome.duration_s = time.monotonic() - began
    return outcome


async def wait_for_next_kill(
    schedule: Schedule, latest: float, ready: Callable[[], Awaitable[None]] | None
) -> bool:
    """Until `latest`, or later if the victim has not been ready for `dwell_s` by then (a busy
    machine: a kill during start-up or before any work tests nothing); the victim must be ready
    within `start_bound_s`. Returns whether the kill comes late."""
    if ready is not None:
        try:
            await asyncio.wait_for(ready(), schedule.start_bound_s)
        except TimeoutError:
            bound = schedule.start_bound_s
            raise AssertionError(f"the orchestrator was not ready {bound:.0f} s after a kill") from None
    at = max(latest, time.monotonic() + (schedule.dwell_s if ready is not None else 0.0))
    await asyncio.sleep(at - time.monotonic())
    return at > latest


async def deliver(api: httpx.AsyncClient, user: ChatUser, message: Message) -> None:
    """Sends until accepted (retrying what docs/api.md says to retry), then follows the reply;
    until cancelled at the drain bound."""
    headers = user.auth | {"Idempotency-Key": message.idempotency_key}
    path = f"/api/conversations/{user.conversation}/messages"
    while message.accepted is None:
        delay = 1.0
        try:
            response = await api.post(path, headers=headers, json={"content": message.content}, timeout=30)
        except httpx.TransportError as exc:  # no answer: the outcome is unknown, the key settles it
            message.refusals.append(type(exc).__name__)
        else:
            if response.status_code == 202:
                message.accepted = response.json()
                break
            if response.status_code not in RETRIED:
                message.rejected = f"{response.status_code} {response.text[:300]}"
                return
            message.refusals.append(str(response.status_code))
            delay = float(response.headers.get("Retry-After", "1"))
        await asyncio.sleep(min(delay, 5.0))
    await follow(api, user.auth, message)


async def follow(api: httpx.AsyncClient, auth: dict[str, str], message: Message) -> None:
    """Reads the reply stream to `done`/`failed` as EventSource does, until cancelled."""
    url = message.accepted["stream_url"]
    while not message.ended:
        headers = dict(auth)
        if message.events:
            headers["Last-Event-ID"] = message.events[-1]["id"]
        try:
            async with api.stream("GET", url, headers=headers, timeout=60) as response:
                if response.status_code != 200:
                    await response.aread()
                    message.stream_refusals.append(response.status_code)
                    await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 5.0))
                    continue
                async for event in parse_sse(response):
                    message.events.append(event)
                    if message.ended:
                        return
        except httpx.TransportError:
            pass  # dropped: resume after the last event seen
        await asyncio.sleep(0.5)


async def stored_messages(api: httpx.AsyncClient, users: list[ChatUser]) -> dict[str, list[dict]]:
    """Each user's conversation as listed (retried while a store still recovers)."""
    stored = {}
    for user in users:
        path = f"/api/conversations/{user.conversation}/messages"
        for _ in range(30):
            response = await api.get(path, headers=user.auth, params={"limit": 200})
            if response.status_code not in RETRIED:
                break
            await asyncio.sleep(1)
        assert response.status_code == 200, response.text
        stored[user.conversation] = response.json()["items"]
    return stored


async def dead_letters(bootstrap_servers: str, prefix: str) -> list[str]:
    """Every record in the prefix's `.dlq` topics: "topic: dlq.error"."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix) and t.endswith(".dlq")]
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    assert len({tp.topic for tp in partitions}) == len(topics), f"not all of {topics} described"
    found: list[str] = []
    if not partitions:
        return found
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp, offset in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, offset)
        remaining = {tp for tp in partitions if ends[tp] > await consumer.position(tp)}
        deadline = time.monotonic() + 30
        while remaining and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    headers = dict(record.headers or ())
                    error = headers.get("dlq.error", b"?").decode(errors="replace")
                    found.append(f"{tp.topic}: {error[:160]}")
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        assert not remaining, f"could not read the dead-letter topics to their end: {remaining}"
    finally:
        await consumer.stop()
    return found


def findings(
    outcome: Outcome, stored: dict[str, list[dict]], dead_lettered: list[str]
) -> dict[str, list[str]]:
    """What users must never see, by kind (empty lists when all is well)."""
    found: dict[str, list[str]] = {
        "dead-lettered": dead_lettered,
        "rejected send": [f"{m.content}: {m.rejected}" for m in outcome.messages if m.rejected],
        "failed reply": [],
        "no end within the drain bound": [],
        "not exactly one done": [],
        "done differs from its tokens": [],
        "done differs from the stored reply": [],
        "user message stored twice": [],
        "accepted message not stored": [],
        "stored reply of no accepted message": [],
    }
    for m in outcome.accepted:
        kinds, reply_id = m.kinds, m.accepted["reply_id"]
        if FAILED in kinds:
            found["failed reply"].append(f"{reply_id}: {m.events[-1]['data']}")
            continue
        if not m.ended:
            found["no end within the drain bound"].append(f"{reply_id}: {kinds[-5:]}")
            continue
        if kinds.count(DONE) != 1:
            found["not exactly one done"].append(f"{reply_id}: {kinds}")
        done = m.events[-1]["data"]["message"]
        streamed = m.text_after_last_reset()
        if done["status"] != "completed" or done["content"] != streamed or not streamed:
            found["done differs from its tokens"].append(f"{reply_id}: {done['status']} {done['content']!r}")
        listed = {s["id"]: s for s in stored.get(m.conversation, [])}
        mine = listed.get(reply_id)
        if mine is None or (mine["status"], mine["content"]) != (done["status"], done["content"]):
            found["done differs from the stored reply"].append(f"{reply_id}: stored {mine}")
    composed_by_conversation: dict[str, list[Message]] = {}
    for m in outcome.messages:
        composed_by_conversation.setdefault(m.conversation, []).append(m)
    for conversation, items in stored.items():
        users = Counter(s["content"] for s in items if s["role"] == "user")
        found["user message stored twice"] += [f"{c!r} x{n}" for c, n in users.items() if n > 1]
        mine = composed_by_conversation.get(conversation, [])
        found["accepted message not stored"] += [
            m.content for m in mine if m.accepted and m.content not in users
        ]
        replies = {m.accepted["reply_id"] for m in mine if m.accepted}
        found["stored reply of no accepted message"] += [
            f"{s['id']} ({s['status']})" for s in items if s["role"] == "assistant" and s["id"] not in replies
        ]
    return found


def verdict(outcome: Outcome, found: dict[str, list[str]]) -> str:
    """One line per kind of finding (count and the first examples), after the run's summary."""
    lines = [outcome.summary()]
    for kind, items in found.items():
        if items:
            lines.append(f"{len(items)} {kind}: {items[:3]}")
    return "\n".join(lines)


def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class Supervised:
    """A service process as a supervisor keeps it: SIGKILLed and started again at once (without
    waiting for it to be ready), and started again whenever it exits by itself."""

    def __init__(self, process) -> None:  # a devstack.testing.ServiceProcess
        self.process = process
        self.lock = asyncio.Lock()
        self.exits: list[int | None] = []  # exit codes of the exits by itself

    async def ready(self) -> None:
        while True:
            status, body = await asyncio.to_thread(self.process.ready_report)
            if status == 200 and body.get("status") == "ready":
                return
            await asyncio.sleep(0.5)

    async def kill(self) -> None:
        async with self.lock:
            await asyncio.to_thread(self.process.kill)
            await asyncio.to_thread(self.process.start, wait_ready=False)

    async def supervise(self) -> None:
        while True:
            await asyncio.sleep(1)
            async with self.lock:
                if not self.process.running:
                    self.exits.append(self.process.proc.returncode if self.process.proc else None)
                    await asyncio.to_thread(self.process.start, wait_ready=False)
