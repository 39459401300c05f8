"""What the end-to-end tests share: isolated settings, a stack of service processes started in
dependency order, and client helpers for the public API, reply streams and chat requests.
"""

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from alice_common import topics
from alice_common.events import ChatRequested, new_id
from alice_common.reply_stream import DONE, FAILED, RESET, TOKEN, reply_key
from devstack.testing import Infra, ServiceProcess, service_env, unique_name

ROOT = Path(__file__).resolve().parents[2]

# Backend overrides. Redis is shared with other test runs and every request comes from 127.0.0.1:
# refill the per-IP buckets at once, so no test is throttled by another's sign-ups and logins.
UNTHROTTLED: dict[str, object] = {
    "register_rate_per_ip_capacity": 1000,
    "register_rate_per_ip_per_s": 1000,
    "login_rate_per_ip_capacity": 1000,
    "login_rate_per_ip_per_s": 1000,
    "max_registrations_per_hour": 1_000_000,
}
# For tests that upload more documents per user than the per-user bucket allows.
UNTHROTTLED_UPLOADS: dict[str, object] = {"upload_rate_capacity": 1000, "upload_rate_per_s": 1000}
# For tests that poll search until an index catches up (each poll takes a token of the bucket).
UNTHROTTLED_SEARCH: dict[str, object] = {"search_rate_capacity": 1000, "search_rate_per_s": 1000}

# ALICE_TEST_LLM=inference: every orchestrator asked for the local model gets the inference service
# instead (a private llama-server per test session; conftest.py fills this in).
LOCAL_MODEL_ROUTE: dict[str, object] = {}

# Services before the ones that call them; the backend calls all the others.
START_ORDER = ("dataflow", "kafkaflow", "orchestrator", "backend")


def isolation(name: str) -> dict[str, str]:
    """Settings that give one test module its own database, topics and consumer groups."""
    # unique_name() records the names, so the session removes these topics and this database.
    return {
        "mongodb_database": unique_name(f"e2e_{name}"),
        "kafka_topic_prefix": f"{unique_name(f'e2e-{name}')}.",
    }


class Stack:
    """The requested services as processes, started in dependency order and stopped in reverse.

    `Stack(infra, isolation("chat"), orchestrator={"llm_provider": "fake"}, backend=UNTHROTTLED)`:
    each keyword names a service to run with its setting overrides (`ready_timeout_s` is the
    process's start bound, not a setting). Every service gets `shared`; the backend also gets the
    URLs of the other services in the stack, which its own overrides replace.
    `stack["orchestrator"]` is the ServiceProcess (to kill or restart it).
    """

    def __init__(self, infra: Infra, shared: dict[str, object], **services: dict[str, object]) -> None:
        unknown = set(services) - set(START_ORDER)
        assert not unknown, f"unknown services {unknown}"
        self.processes: dict[str, ServiceProcess] = {}
        for name in START_ORDER:
            if name not in services:
                continue
            overrides = dict(services[name])
            ready_timeout_s = overrides.pop("ready_timeout_s", None)
            if (
                name == "orchestrator"
                and LOCAL_MODEL_ROUTE
                and overrides.get("llm_provider", "local") == "local"
            ):
                overrides |= LOCAL_MODEL_ROUTE
            if name == "backend":
                wired = {f"{svc}_url": self.processes[svc].url for svc in self.processes}
                overrides = wired | overrides
            env = service_env(infra, **(shared | overrides))
            self.processes[name] = ServiceProcess(name, env, ready_timeout_s=ready_timeout_s)

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    def __enter__(self) -> "Stack":
        try:
            for process in self.processes.values():
                process.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.stop()


def grant_admin(backend: ServiceProcess, email: str) -> None:
    """The operator's way: the backend's own CLI with the backend's settings."""
    done = subprocess.run(
        [sys.executable, "-m", "alice_backend", "admin", "grant", email],
        env=backend.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The CLI says "no account ..." on stdout; a traceback goes to stderr.
    output = (done.stdout + done.stderr)[-2000:]
    assert done.returncode == 0, f"admin grant exited {done.returncode}: {output}"


# ---------------------------------------------------------------------------------------------------
# The public API


def new_credentials(prefix: str = "e2e") -> dict[str, str]:
    return {"email": f"{prefix}-{uuid.uuid4().hex[:10]}@example.com", "password": "pw-0123456789"}


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def register_sync(client: httpx.Client, prefix: str = "e2e") -> dict:
    """Registers a new user; returns the token response (access and refresh token)."""
    response = client.post("/api/auth/register", json=new_credentials(prefix))
    assert response.status_code == 201, response.text
    return response.json()


async def register(api: httpx.AsyncClient, prefix: str = "e2e") -> dict[str, str]:
    """Registers a new user; returns their Authorization header."""
    response = await api.post("/api/auth/register", json=new_credentials(prefix))
    assert response.status_code == 201, response.text
    return bearer(response.json())


async def new_conversation(api: httpx.AsyncClient, auth: dict[str, str]) -> str:
    response = await api.post("/api/conversations", headers=auth, json={})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def send(api: httpx.AsyncClient, auth: dict[str, str], conversation: str, content: str) -> dict:
    """Posts a message; returns the 202 body (reply_id, stream_url, message)."""
    response = await api.post(
        f"/api/conversations/{conversation}/messages", headers=auth, json={"content": content}
    )
    assert response.status_code == 202, response.text
    return response.json()


async def sse_events(
    api: httpx.AsyncClient,
    url: str,
    auth: dict[str, str],
    last_event_id: str | None = None,
    stop_after: int | None = None,
    on_event: Callable[[dict], Awaitable[None]] | None = None,
    read_timeout_s: float = 120,
    direct: bool = True,
) -> list[dict]:
    """Reads SSE events until done/failed (or `stop_after` events); returns [{id, event, data}].
    `direct=False` when reading through a proxy: nginx consumes the backend's X-Accel-Buffering."""
    headers = dict(auth)
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    events: list[dict] = []
    async with api.stream("GET", url, headers=headers, timeout=read_timeout_s) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers.get("x-accel-buffering") == ("no" if direct else None)
        async for event in parse_sse(response):
            events.append(event)
            if on_event is not None:
                await on_event(event)
            if event["event"] in (DONE, FAILED) or (stop_after and len(events) >= stop_after):
                break
    return events


async def reply_killed_at_first_token(
    api: httpx.AsyncClient,
    prefix: str,
    kill: Callable[[], Awaitable[None]],
    read_timeout_s: float,
    direct: bool = True,
    question: str = "Write a few sentences about mountains.",
    as_edit: bool = False,
) -> list[str]:
    """A new user's message whose reply is cut off by `kill()` (the generating process killed,
    however this deployment does it) at its first token. The stream must then say `reset` and end
    with one completed reply equal to what follows the reset and to what is stored. Returns the
    stream's event kinds. With a fast model (the inference service decodes about 100 tokens a
    second), ask a `question` with a long answer, so the reply is still running when the kill lands.
    `as_edit`: the message is a new version of a first one, answered before: the tree must come out
    of the crash with both versions, each with one reply, and the branch shown ending at the new."""
    auth = await register(api, prefix)
    conversation = await new_conversation(api, auth)
    first = None
    if as_edit:
        first = await send(api, auth, conversation, "Say hi.")
        assert (await sse_events(api, first["stream_url"], auth, read_timeout_s=read_timeout_s))[-1][
            "event"
        ] == DONE
    body = {"content": question} | ({"edit_of": first["message"]["id"]} if first else {})
    response = await api.post(f"/api/conversations/{conversation}/messages", headers=auth, json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    killed: list[bool] = []

    async def on_event(event: dict) -> None:
        if event["event"] == TOKEN and not killed:
            killed.append(True)
            await kill()

    events = await sse_events(
        api, accepted["stream_url"], auth, on_event=on_event, read_timeout_s=read_timeout_s, direct=direct
    )
    kinds = [e["event"] for e in events]
    assert killed, f"no token before the stream ended: {kinds}"
    assert kinds[-1] == DONE and RESET in kinds, kinds
    assert kinds.index(TOKEN) < kinds.index(RESET)
    text = "".join(e["data"]["delta"] for e in events[kinds.index(RESET) + 1 :] if e["event"] == TOKEN)
    done = events[-1]["data"]["message"]
    assert done["id"] == accepted["reply_id"] and done["status"] == "completed"
    assert done["content"] == text and text.strip()
    path = f"/api/conversations/{conversation}/{'branch' if as_edit else 'messages'}"
    listed = (await get_retrying(api, path, auth)).json()["items"]
    assert [(m["role"], m["status"]) for m in listed] == [("user", "completed"), ("assistant", "completed")]
    assert listed[-1]["id"] == accepted["reply_id"] and listed[-1]["content"] == text
    if first is not None:
        assert listed[0]["siblings"] == [first["message"]["id"], accepted["message"]["id"]]
        every = (await get_retrying(api, f"/api/conversations/{conversation}/messages", auth)).json()["items"]
        assert [m["role"] for m in every].count("assistant") == 2, "one reply per version, none twice"
    return kinds


# A reply of the whole LLM_MAX_TOKENS (256): seconds of decoding, even on a fast inference service.
LONG_QUESTION = "Write a long essay about mountains, in many paragraphs, with every detail you know."


async def get_retrying(api: httpx.AsyncClient, path: str, auth: dict, bound_s: float = 60) -> httpx.Response:
    """GET as docs/api.md tells clients: a 503 (a service that was just killed is still being
    replaced) is retried after its `Retry-After`, within `bound_s`; anything else is returned."""
    deadline = time.monotonic() + bound_s
    while True:
        response = await api.get(path, headers=auth)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))


async def parse_sse(response: httpx.Response) -> AsyncIterator[dict]:
    """The events of a text/event-stream response as {id, event, data} (data decoded from JSON)."""
    current: dict = {}
    data_lines: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if "event" in current:
                current["data"] = json.loads("\n".join(data_lines))
                yield current
            current, data_lines = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data_lines.append(value)
        elif name in ("id", "event"):
            current[name] = value


async def sse_reconnecting(
    api: httpx.AsyncClient, url: str, auth: dict[str, str], timeout_s: float = 180
) -> tuple[list[dict], list[int]]:
    """Reads a reply stream as EventSource does through outages: a dropped connection is resumed
    with Last-Event-ID, a refusal is retried after its `Retry-After`. Returns the events up to
    done/failed and the status of every refused attempt (each must say when to retry)."""
    events: list[dict] = []
    refusals: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        headers = dict(auth)
        if events:
            headers["Last-Event-ID"] = events[-1]["id"]
        try:
            async with api.stream("GET", url, headers=headers, timeout=30) as response:
                if response.status_code != 200:
                    await response.aread()
                    assert int(response.headers["Retry-After"]) > 0, (response.status_code, response.text)
                    refusals.append(response.status_code)
                    await asyncio.sleep(1)
                    continue
                async for event in parse_sse(response):
                    events.append(event)
                    if event["event"] in (DONE, FAILED):
                        return events, refusals
        except httpx.TransportError:
            pass  # the connection dropped: resume after the last event seen
        await asyncio.sleep(0.5)
    raise AssertionError(f"no done/failed on {url} within {timeout_s}s: {[e['event'] for e in events][-5:]}")


async def read_until_done(
    api: httpx.AsyncClient, auth: dict[str, str], url: str, direct: bool = True
) -> dict:
    """The finished assistant message of a reply stream (which must end in `done`)."""
    events = await sse_events(api, url, auth, read_timeout_s=300, direct=direct)
    assert events and events[-1]["event"] == DONE, f"stream ended without done: {events[-3:]}"
    return events[-1]["data"]["message"]


async def ask(api: httpx.AsyncClient, auth: dict[str, str], content: str, direct: bool = True) -> dict:
    """A new conversation with one message, read until its reply is done: {conversation, message}."""
    conversation = await new_conversation(api, auth)
    accepted = await send(api, auth, conversation, content)
    message = await read_until_done(api, auth, accepted["stream_url"], direct=direct)
    return {"conversation": conversation, "message": message}


# ---------------------------------------------------------------------------------------------------
# The orchestrator's side: Kafka in, `reply:{id}` Redis streams out


@contextlib.asynccontextmanager
async def kafka_and_redis(infra: Infra) -> AsyncIterator[tuple[AIOKafkaProducer, aioredis.Redis]]:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    redis = aioredis.from_url(infra.redis_url, decode_responses=True)
    try:
        yield producer, redis
    finally:
        await producer.stop()
        await redis.aclose()


async def publish_chat(producer: AIOKafkaProducer, prefix: str, request: ChatRequested) -> None:
    await producer.send_and_wait(
        f"{prefix}{topics.CHAT_REQUESTS.name}", request.to_bytes(), key=request.conversation_id.encode()
    )


async def new_chat_request(http: httpx.AsyncClient, content: str) -> ChatRequested:
    """A request from a new user in a conversation created through the orchestrator's internal API."""
    user = "user" + new_id()
    response = await http.post("/internal/conversations", params={"user_id": user}, json={})
    assert response.status_code == 201, response.text
    return ChatRequested(
        conversation_id=response.json()["id"],
        user_id=user,
        message_id=new_id(),
        reply_id=new_id(),
        content=content,
    )


async def follow(
    redis: aioredis.Redis,
    reply_id: str,
    on_event: Callable[[tuple[str, dict]], Awaitable[None]] | None = None,
    timeout_s: float = 120,
) -> list[tuple[str, dict]]:
    """Reads `reply:{id}` from the start until `done` or `failed`: [(event, data)]."""
    events: list[tuple[str, dict]] = []
    last = "0"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await redis.xread({reply_key(reply_id): last}, block=1000)
        for _key, entries in found or []:
            for entry_id, fields in entries:
                last = entry_id
                event = (fields["event"], json.loads(fields["data"]))
                events.append(event)
                if on_event is not None:
                    await on_event(event)
                if event[0] in (DONE, FAILED):
                    return events
    raise AssertionError(f"no {DONE}/{FAILED} on {reply_key(reply_id)} within {timeout_s}s: {events}")
