"""The `openai` chat provider against a real OpenAI-compatible server: llama-cpp-python's own
`python -m llama_cpp.server` serving the same SmolLM2 GGUF the local provider uses."""

import subprocess
import sys
import time

import httpx
import pytest
from alice_orchestrator.providers.base import ProviderError
from alice_orchestrator.providers.local import bundled_model_path
from alice_orchestrator.providers.openai_compat import OpenAICompatProvider
from devstack.testing import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL_ALIAS = "smollm2-135m"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path())]
    argv += ["--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--n_ctx", "1024", "--n_threads", "1", "--verbose", "false"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not up in 90 s: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_streams_tokens_from_a_real_openai_compatible_server(llama_server):
    provider = OpenAICompatProvider(llama_server, MODEL_ALIAS, api_key="not-needed")
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
    provider = OpenAICompatProvider(llama_server.replace("/v1", "/nope"), MODEL_ALIAS)
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
