import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import NamedTuple

import pytest

# Real infrastructure and service processes for every test: see tools/devstack/devstack/testing/.
pytest_plugins = ["devstack.testing.fixtures"]

# Services refuse to start without their secrets (no defaults in code): unit tests that build
# Settings get random ones for this session; services a test starts get the infrastructure's
# (devstack.testing.service_env).
for _name in ("JWT_SECRET", "ALICE_INTERNAL_TOKEN"):
    os.environ.setdefault(_name, secrets.token_urlsafe(48))


class LlamaServer(NamedTuple):
    url: str  # the OpenAI-compatible base URL, ending in /v1
    model: str  # the model alias the server answers to


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[LlamaServer]:
    """A real OpenAI-compatible endpoint: llama-cpp-python's own `python -m llama_cpp.server`
    serving the same SmolLM2 GGUF the local provider uses (one per test session)."""
    from alice_orchestrator.providers.local import bundled_model_path
    from devstack.health import NotServing, wait_http
    from devstack.testing import free_port

    port, model = free_port(), "smollm2-via-server"
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path())]
    argv += ["--model_alias", model, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--n_ctx", "2048", "--n_threads", "1", "--verbose", "false"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        try:
            wait_http(f"{base}/models", 90, proc=proc, interval_s=0.3)
        except NotServing as exc:
            pytest.fail(f"llama_cpp.server: {exc}\n{log_path.read_text()[-2000:]}")
        yield LlamaServer(base, model)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="session")
def inference_server(tmp_path_factory):
    """The inference service as devstack runs it (llama-server, 4 slots), private to this test
    session on a free port; the binary is built into the cache on first use."""
    from devstack.inference import private_inference_server
    from devstack.testing import free_port

    log_path = tmp_path_factory.mktemp("inference") / "llama-server.log"
    with private_inference_server(free_port(), log_path) as server:
        yield server
