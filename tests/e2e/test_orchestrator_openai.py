"""The orchestrator process with `LLM_PROVIDER=openai` against a real OpenAI-compatible server
(llama-cpp-python's `python -m llama_cpp.server` serving the bundled SmolLM2 GGUF): a request
published to Kafka streams through the endpoint into Redis and is stored."""

import httpx
import pytest
from alice_common.reply_stream import DONE, TOKEN

from tests.support.stack import Stack, follow, isolation, kafka_and_redis, new_chat_request, publish_chat

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

INTERNAL_TOKEN = "e2e-openai-token-long-enough-to-be-a-secret"


async def test_a_reply_streams_through_an_openai_compatible_endpoint(infra, llama_server):
    shared = isolation("openai") | {"alice_internal_token": INTERNAL_TOKEN}
    orchestrator = dict(
        llm_provider="openai",
        llm_base_url=llama_server.url,
        llm_model=llama_server.model,
        llm_api_key="unused-by-this-server",
        llm_max_tokens=24,
        llm_temperature=0.0,
        ready_timeout_s=120,
    )
    with Stack(infra, shared, orchestrator=orchestrator) as up:
        headers = {"X-Internal-Token": INTERNAL_TOKEN}
        async with (
            kafka_and_redis(infra) as (producer, redis),
            httpx.AsyncClient(base_url=up["orchestrator"].url, headers=headers, timeout=30) as http,
        ):
            request = await new_chat_request(http, "Name three colours.")
            user, conversation = request.user_id, request.conversation_id
            await publish_chat(producer, shared["kafka_topic_prefix"], request)
            events = await follow(redis, request.reply_id, timeout_s=120)
            kinds = [k for k, _ in events]
            assert kinds[-1] == DONE and TOKEN in kinds, kinds
            done = events[-1][1]["message"]
            assert done["model"] == llama_server.model
            assert done["content"] == "".join(d["delta"] for k, d in events if k == TOKEN)
            assert done["content"].strip() and done["usage"]["completion_tokens"] >= 1

            stored = await http.get(
                f"/internal/conversations/{conversation}/messages", params={"user_id": user}
            )
            assert [m["role"] for m in stored.json()["items"]] == ["user", "assistant"]
            assert stored.json()["items"][1]["content"] == done["content"]
