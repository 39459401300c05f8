"""`/v1` for real workloads (issue 24, part B) with the official `openai` SDK against the real
stack and the local model: requests over the cap wait instead of a 429, a bounded line, keep-alive
bytes for a waiting stream, `context_length_exceeded`, embeddings, and keys for services."""

import asyncio
import contextlib
import time
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
import redis.asyncio as aioredis
from alice_common.reply_stream import active_key

from tests.support.stack import UNTHROTTLED, Stack, grant_admin, isolation, new_credentials

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

# Three generations at once (the default cap), five more may wait: a batch of 8 fits exactly.
BACKEND = UNTHROTTLED | {
    "generation_queue_length": 5,
    "generation_queue_wait_s": 120,
    "api_key_cache_ttl_s": 1.0,
}
ORCHESTRATOR = dict(llm_provider="local", llm_max_tokens=48, ready_timeout_s=120)
QUESTION = [{"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[Stack]:
    with Stack(
        infra,
        isolation("workloads"),
        dataflow={"ready_timeout_s": 120},
        orchestrator=ORCHESTRATOR,
        backend=BACKEND,
    ) as up:
        yield up


async def account(api: httpx.AsyncClient, prefix: str) -> tuple[dict, dict[str, str], dict]:
    """(credentials, session header, created key)."""
    credentials = new_credentials(prefix)
    registered = await api.post("/api/auth/register", json=credentials)
    assert registered.status_code == 201, registered.text
    credentials["user_id"] = registered.json()["user"]["id"]
    auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    key = await api.post("/api/keys", headers=auth, json={"name": prefix})
    assert key.status_code == 201, key.text
    return credentials, auth, key.json()


def sdk(stack: Stack, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=f"{stack['backend'].url}/v1", max_retries=0, timeout=600)


async def chat_model(client: openai.AsyncOpenAI) -> str:
    return (await client.models.list()).data[0].id


STALLED = [f"stalled-{n}" for n in range(3)]
# A streamed response, still open, and when its request was sent.
Opened = tuple[httpx.Response, float]


async def stream_as_sdks_do(raw: httpx.AsyncClient, headers: dict, body: dict) -> Opened:
    """A streamed completion's response (still open) and when its request was sent. A 503 says
    when to retry (a store that stalled on a loaded machine): it is retried after that, twice at
    most, as the OpenAI SDKs do; its body is printed, shown with a failure."""
    for attempt in range(3):
        started = time.monotonic()
        request = raw.build_request("POST", "/v1/chat/completions", headers=headers, json=body)
        response = await raw.send(request, stream=True)
        if response.status_code != 503 or "retry-after" not in response.headers or attempt == 2:
            return response, started
        print("retried after a 503:", (await response.aread()).decode())
        await response.aclose()
        await asyncio.sleep(int(response.headers["retry-after"]))
    raise AssertionError("unreachable")


async def take_every_slot(redis: aioredis.Redis, user_id: str) -> None:
    """The user's three generation slots held by replies of a stalled worker (they would count
    until ACTIVE_GENERATION_TTL_S): how long the model takes then does not matter."""
    await redis.zadd(active_key(user_id), dict.fromkeys(STALLED, time.time()))


async def test_a_batch_of_eight_from_one_key_is_answered_in_full_without_a_429(stack):
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=30) as api:
        _, _, key = await account(api, "batch")
    client = sdk(stack, key["secret"])
    model = await chat_model(client)
    answers = await asyncio.gather(
        *(
            client.chat.completions.create(model=model, messages=QUESTION, max_tokens=12, temperature=0)
            for _ in range(8)
        )
    )
    assert len(answers) == 8
    assert all(a.choices[0].message.content.strip() for a in answers)
    await client.close()


async def test_past_the_bound_a_429_with_retry_after_and_a_waiting_stream_gets_keep_alive_first(stack, infra):
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=30) as api:
        user, _, key = await account(api, "bound")
    client = sdk(stack, key["secret"])
    model = await chat_model(client)
    redis = aioredis.from_url(infra.redis_url, decode_responses=True)
    await take_every_slot(redis, user["user_id"])

    # A waiting stream: its response and first bytes come at once, while every slot is taken.
    headers = {"Authorization": f"Bearer {key['secret']}"}
    body = {"model": model, "messages": QUESTION, "stream": True, "max_tokens": 8}
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=60) as raw:
        waiting, started = await stream_as_sdks_do(raw, headers, body)
        async with contextlib.aclosing(waiting):
            assert waiting.status_code == 200, (await waiting.aread()).decode()
            chunks = waiting.aiter_text()
            first = await anext(chunks)
            assert first.startswith(": keep-alive") and time.monotonic() - started < 5

            # The line holds 5: the waiting stream and four more; the next one is refused.
            waiters = [
                asyncio.create_task(
                    client.chat.completions.create(model=model, messages=QUESTION, max_tokens=8)
                )
                for _ in range(4)
            ]
            for _ in range(600):  # each has joined the line (a loaded machine takes its time)
                if await redis.zcard(f"waitq:{user['user_id']}") == 5:
                    break
                await asyncio.sleep(0.1)
            with pytest.raises(openai.RateLimitError) as caught:
                await client.chat.completions.create(model=model, messages=QUESTION, max_tokens=8)
            assert caught.value.body["code"] == "rate_limit_exceeded"
            assert int(caught.value.response.headers["retry-after"]) >= 1

            await redis.zrem(active_key(user["user_id"]), *STALLED)  # the waiters get their turns
            rest = "".join([text async for text in chunks])
    assert '"role":"assistant"' in rest and rest.rstrip().endswith("data: [DONE]")
    answered = [await waiter for waiter in waiters]  # no 429 for those within the bound
    assert all(a.choices[0].message.content is not None for a in answered)
    await client.close()
    await redis.aclose()


async def test_a_prompt_longer_than_the_context_is_refused_naming_the_limit(stack):
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=30) as api:
        _, _, key = await account(api, "context")
    client = sdk(stack, key["secret"])
    model = await chat_model(client)
    too_long = [{"role": "user", "content": "The quick brown fox jumps over the lazy dog. " * 400}]
    started = time.monotonic()
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=model, messages=too_long)
    assert caught.value.body["code"] == "context_length_exceeded"
    assert "maximum context length is 2048 tokens" in caught.value.body["message"]
    assert time.monotonic() - started < 10  # refused before generation, not after
    await client.close()


async def test_embeddings_with_the_sdk_as_floats_and_base64_give_the_same_vectors(stack):
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=30) as api:
        _, _, key = await account(api, "embed")
    client = sdk(stack, key["secret"])
    texts = ["The cat sat on the mat.", "Quarterly revenue grew.", "A kitten rests on a rug."]
    as_floats = await client.embeddings.create(model="all-MiniLM-L6-v2", input=texts, encoding_format="float")
    as_base64 = await client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # decoded by the SDK
    floats = np.array([d.embedding for d in as_floats.data])
    assert floats.shape == (3, 384) and as_floats.usage.prompt_tokens > 10
    assert np.allclose(floats, np.array([d.embedding for d in as_base64.data]), atol=1e-6)
    assert floats[0] @ floats[2] > floats[0] @ floats[1]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.embeddings.create(model="all-MiniLM-L6-v2", input="word " * 400)
    assert caught.value.body["code"] == "context_length_exceeded"
    await client.close()


async def test_a_key_for_a_service_runs_with_its_own_limits_and_counts_its_usage(stack):
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=30) as api:
        _, owner_auth, key = await account(api, "service")
        admin_credentials, admin_auth, _ = await account(api, "admin")
        grant_admin(stack["backend"], admin_credentials["email"])
        limits = {"max_concurrent_generations": 1, "requests_per_minute": 3}
        refused = await api.put(f"/api/admin/keys/{key['key']['id']}/limits", headers=owner_auth, json=limits)
        assert refused.status_code == 403  # the owner is no admin
        limited = await api.put(f"/api/admin/keys/{key['key']['id']}/limits", headers=admin_auth, json=limits)
        assert limited.status_code == 200, limited.text
        await asyncio.sleep(1.5)  # every replica's memo of the key has lapsed

        client = sdk(stack, key["secret"])
        model = await chat_model(client)
        started = [
            client.chat.completions.create(model=model, messages=QUESTION, max_tokens=8, temperature=0)
            for _ in range(3)
        ]
        answers = await asyncio.gather(*started)  # one at a time, the others waited
        assert all(a.choices[0].message.content is not None for a in answers)
        with pytest.raises(openai.RateLimitError) as caught:  # the fourth in a minute
            await client.chat.completions.create(model=model, messages=QUESTION, max_tokens=8)
        assert int(caught.value.response.headers["retry-after"]) >= 1

        listed = (await api.get("/api/keys", headers=owner_auth)).json()["items"][0]
        assert listed["limits"] == limits and listed["usage"]["requests"] == 3
        spent = sum(a.usage.completion_tokens for a in answers)
        assert listed["usage"]["completion_tokens"] == spent
        assert listed["usage"]["prompt_tokens"] == sum(a.usage.prompt_tokens for a in answers)
        await client.close()


async def test_langchain_batch_of_eight_all_answered_and_its_embeddings(stack):
    """LangChain as users run it (issue 24's acceptance): `batch` of 8 with no retries allowed
    (a 429 would fail it), and `OpenAIEmbeddings` on the same key."""
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings

    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=30) as api:
        _, _, key = await account(api, "langchain")
    base_url = f"{stack['backend'].url}/v1"
    model = await chat_model(sdk(stack, key["secret"]))
    chat = ChatOpenAI(
        model=model, api_key=key["secret"], base_url=base_url, max_retries=0, timeout=600,
        max_tokens=12, temperature=0,
    )  # fmt: skip
    answers = await chat.abatch([f"Name a colour, answer {n}." for n in range(8)])
    assert len(answers) == 8 and all(a.content.strip() for a in answers)
    embeddings = OpenAIEmbeddings(
        model="all-MiniLM-L6-v2", api_key=key["secret"], base_url=base_url,
        check_embedding_ctx_length=False, max_retries=0,
    )  # fmt: skip
    documents = await embeddings.aembed_documents(["The cat sat on the mat.", "Quarterly revenue grew."])
    query = await embeddings.aembed_query("A kitten rests on a rug.")
    assert len(documents) == 2 and len(query) == 384
    assert np.dot(query, documents[0]) > np.dot(query, documents[1])
