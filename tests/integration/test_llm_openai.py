"""The `openai` chat provider against a real OpenAI-compatible server: llama-cpp-python's own
`python -m llama_cpp.server` serving the same SmolLM2 GGUF the local provider uses."""

import pytest
from alice_orchestrator.providers.base import ProviderError
from alice_orchestrator.providers.openai_compat import OpenAICompatProvider

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_streams_tokens_from_a_real_openai_compatible_server(llama_server):
    provider = OpenAICompatProvider(llama_server.url, llama_server.model, api_key="not-needed")
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Name a fruit."},
    ]
    try:
        generation = provider.stream(messages, max_tokens=12, temperature=0.0)
        deltas = [d async for d in generation]
    finally:
        await provider.close()
    assert len(deltas) >= 2, f"expected a streamed reply, got {deltas!r}"
    assert "".join(deltas).strip()
    assert 1 <= generation.completion_tokens <= 12
    assert generation.prompt_tokens > 0
    assert generation.ttft_ms is not None


async def test_a_wrong_endpoint_is_a_provider_error(llama_server):
    provider = OpenAICompatProvider(llama_server.url.replace("/v1", "/nope"), llama_server.model)
    try:
        with pytest.raises(ProviderError, match="404"):
            _ = [
                d
                async for d in provider.stream(
                    [{"role": "user", "content": "hi"}], max_tokens=2, temperature=0
                )
            ]
    finally:
        await provider.close()
