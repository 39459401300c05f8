"""The OpenAI-compatible API with the real `openai` SDK against the real stack and the local model
(issue 14): completions streamed and not, errors the SDK raises, personal API keys (revocation on
a second backend replica, isolation between users, never in logs) and SIGKILL of the
orchestrator during a streamed call.
"""

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
import redis.asyncio as aioredis
from alice_common.reply_stream import DONE, RESET, reply_key

from tests.support.stack import UNTHROTTLED, Stack, isolation, new_conversation, register, send

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

ORCHESTRATOR = dict(
    llm_provider="local",
    llm_max_tokens=48,
    chat_consumer_session_timeout_ms=6000,
    ready_timeout_s=120,
)
KEY_CACHE_TTL_S = 2.0
# Every key this module creates, for the check that none of them is ever logged.
CREATED_KEYS: list[str] = []
QUESTION = [
    {"role": "system", "content": "You are a helpful assistant. Answer in one sentence."},
    {"role": "user", "content": "What colour is the sky on a clear day?"},
]


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[Stack]:
    backend = UNTHROTTLED | {"api_key_cache_ttl_s": KEY_CACHE_TTL_S}
    with Stack(infra, isolation("openai"), orchestrator=ORCHESTRATOR, backend=backend) as up:
        yield up


async def new_key(api: httpx.AsyncClient, auth: dict[str, str], name: str = "sdk") -> dict:
    response = await api.post("/api/keys", headers=auth, json={"name": name})
    assert response.status_code == 201, response.text
    CREATED_KEYS.append(response.json()["secret"])
    return response.json()


def sdk(base_url: str, key: str, **options) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=f"{base_url}/v1", max_retries=0, timeout=300, **options)


async def served_model(client: openai.AsyncOpenAI) -> str:
    models = [m.id async for m in client.models.list()]
    assert len(models) == 1 and "SmolLM2" in models[0], models
    return models[0]


async def test_completions_non_streaming_and_streaming_with_the_real_model(stack):
    url = stack["backend"].url
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        key = (await new_key(api, await register(api, "oai")))["secret"]
    client = sdk(url, key)
    model = await served_model(client)

    completion = await client.chat.completions.create(
        model=model, messages=QUESTION, max_tokens=24, temperature=0
    )
    text = completion.choices[0].message.content
    assert text and text.strip()
    assert completion.choices[0].finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    stream = await client.chat.completions.create(
        model=model,
        messages=QUESTION,
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1, (
        "tokens arrive one by one"
    )
    # Greedy decoding of the same messages: the same answer, streamed or not.
    assert streamed == text
    assert chunks[-1].usage.completion_tokens == usage.completion_tokens

    # max_tokens and stop are honoured.
    short = await client.chat.completions.create(model=model, messages=QUESTION, max_tokens=3, temperature=0)
    assert short.usage.completion_tokens <= 3 and short.choices[0].finish_reason == "length"
    cut_at = text.split()[2]
    stopped = await client.chat.completions.create(
        model=model, messages=QUESTION, max_tokens=24, temperature=0, stop=[cut_at]
    )
    assert stopped.choices[0].message.content == text[: text.index(cut_at)]
    await client.close()


async def test_wrong_and_revoked_keys_raise_authentication_error_on_every_replica(stack, second_backend):
    url = stack["backend"].url
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        auth = await register(api, "oai-revoke")
        created = await new_key(api, auth)
        wrong = sdk(url, created["secret"][:-4] + "AAAA")
        with pytest.raises(openai.AuthenticationError):
            await wrong.models.list()
        with pytest.raises(openai.AuthenticationError):
            await sdk(url, "not-even-a-key").models.list()

        replica = sdk(second_backend.url, created["secret"])
        await served_model(replica)  # the replica now has the key in its cache
        revoked = await api.delete(f"/api/keys/{created['key']['id']}", headers=auth)
        assert revoked.status_code == 204
        with pytest.raises(openai.AuthenticationError):
            await sdk(url, created["secret"]).models.list()
        started = time.monotonic()
        while True:
            try:
                await replica.models.list()
            except openai.AuthenticationError:
                break
            assert time.monotonic() - started < KEY_CACHE_TTL_S + 3, "the other replica still accepts it"
            await asyncio.sleep(0.2)
        listed = (await api.get("/api/keys", headers=auth)).json()["items"]
        assert listed == []


async def test_a_call_over_the_cap_waits_for_a_slot_instead_of_a_rate_limit_error(stack):
    url = stack["backend"].url
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        key = (await new_key(api, await register(api, "oai-rate")))["secret"]
    client = sdk(url, key)
    model = await served_model(client)
    # MAX_CONCURRENT_GENERATIONS is 3: three open streams hold every slot of this user; the
    # fourth call waits for one of them to end (docs/decisions/0065-queue-instead-of-429.md).
    streams = [
        await client.chat.completions.create(model=model, messages=QUESTION, stream=True, max_tokens=48)
        for _ in range(3)
    ]
    fourth = await client.chat.completions.create(model=model, messages=QUESTION, max_tokens=8)
    assert fourth.choices[0].message.content is not None
    for stream in streams:
        await stream.close()
    await client.close()


async def test_one_users_key_never_reads_another_users_data(stack):
    url = stack["backend"].url
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        ada, bob = await register(api, "oai-ada"), await register(api, "oai-bob")
        bob_conversation = await new_conversation(api, bob)
        bob_reply = (await send(api, bob, bob_conversation, "Bob's secret question"))["reply_id"]
        ada_key = {"Authorization": f"Bearer {(await new_key(api, ada))['secret']}"}
        for path in (
            f"/api/conversations/{bob_conversation}",
            f"/api/conversations/{bob_conversation}/messages",
            f"/api/replies/{bob_reply}/stream",
        ):
            response = await api.get(path, headers=ada_key)
            assert response.status_code == 404, (path, response.text)
        assert (await api.get("/api/conversations", headers=ada_key)).json()["items"] == []
        assert (await api.get("/api/keys", headers=bob)).json()["items"] == []
        stop = await api.post(f"/api/replies/{bob_reply}/stop", headers=ada_key)
        assert stop.status_code == 404


async def test_sigkill_of_the_orchestrator_mid_stream_still_gives_one_complete_answer(stack, infra):
    url = stack["backend"].url
    orchestrator = stack["orchestrator"]
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        key = (await new_key(api, await register(api, "oai-kill")))["secret"]
    client = sdk(url, key)
    model = await served_model(client)
    # Sampled (temperature 0.7), not greedy: the retry repeats the text because it is seeded.
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Write a few sentences about the sea."}],
        max_tokens=48,
        temperature=0.7,
        stream=True,
    )
    text, killed, reply_id = "", False, None
    async for chunk in stream:
        reply_id = chunk.id.removeprefix("chatcmpl-")
        delta = chunk.choices[0].delta.content if chunk.choices else None
        text += delta or ""
        if delta and not killed:
            killed = True
            await asyncio.to_thread(orchestrator.kill)  # SIGKILL: no shutdown code runs
            await asyncio.to_thread(orchestrator.start)  # same port, same consumer group
    assert killed, "no token before the stream ended"
    redis = aioredis.from_url(infra.redis_url, decode_responses=True)
    try:
        entries = await redis.xrange(reply_key(reply_id))
    finally:
        await redis.aclose()
    kinds = [fields["event"] for _, fields in entries]
    assert RESET in kinds, f"the kill did not interrupt the generation: {kinds}"
    assert kinds[-1] == DONE
    final = json.loads(entries[-1][1]["data"])["message"]["content"]
    assert text == final and text.strip(), (text, final)
    await client.close()


async def test_api_keys_never_appear_in_logs(stack, second_backend):
    """Runs last in this module: every key the tests above created and used is in these logs' scope."""
    url = stack["backend"].url
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        auth = await register(api, "oai-logs")
        created = await new_key(api, auth)
        secret = created["secret"]
        await api.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
        await api.get("/v1/models", headers={"Authorization": f"Bearer {secret[:-1]}x"})
        await api.delete(f"/api/keys/{created['key']['id']}", headers=auth)
        await api.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert secret in CREATED_KEYS and len(CREATED_KEYS) >= 5
    for process in (stack["backend"], second_backend, stack["orchestrator"]):
        log = process.log_file.read_text(errors="replace")
        assert "sk-alice-" not in log, f"something key-like was logged in {process.log_file}"
        for key in CREATED_KEYS:
            # sk-alice-{id}-{secret}; the secret's own alphabet has "-", so split at most 3 times.
            assert key.split("-", 3)[3][:20] not in log, process.log_file
