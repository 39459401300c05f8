"""The extraction child gets no secret in its environment and, where the platform allows an
unprivileged network namespace, no network (docs/operations.md "Security")."""

import json
import socket
from pathlib import Path

import pytest
from alice_dataflow import sandbox
from alice_dataflow.sandbox import MIB, Job, Limits, Sandbox

PROBE_DIR = Path(__file__).with_name("sandbox_probe")
SECRETS = {
    "ALICE_INTERNAL_TOKEN": "internal-token-the-child-must-not-see",
    "MONGODB_URL": "mongodb://app:password-the-child-must-not-see@127.0.0.1:27017",
    "WEAVIATE_API_KEY": "weaviate-key-the-child-must-not-see",
    "REDIS_URL": "redis://:redis-password-the-child-must-not-see@127.0.0.1:6379/0",
}


async def _probe(monkeypatch, port: int) -> dict:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYTHONPATH", str(PROBE_DIR))
    monkeypatch.setattr(sandbox, "WORKER_MODULE", "probe_worker")
    box = Sandbox(Limits(memory_budget_bytes=256 * MIB, cpu_s=30, timeout_s=60))
    # Larger than the in-process threshold, so it goes to the child.
    data = json.dumps({"port": port}).encode().ljust(sandbox.IN_PROCESS_BYTES + 1)
    chunks = await box.chunks(data, Job("application/pdf", "x.pdf", 1000, 200, 40, 10))
    return json.loads(chunks[0])


async def test_the_child_inherits_no_secret(monkeypatch):
    seen = await _probe(monkeypatch, 9)
    leaked = [name for name, value in SECRETS.items() if name in seen["env"] or value in str(seen)]
    assert leaked == []
    assert set(seen["env"]) <= set(sandbox._INHERITED) | set(sandbox._CHILD_ENV)


async def test_the_child_has_no_network_where_the_platform_allows(monkeypatch):
    if not sandbox.no_network_prefix():
        pytest.skip("this platform refuses unprivileged network namespaces (documented)")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        seen = await _probe(monkeypatch, server.getsockname()[1])
    assert seen["network"].startswith("refused"), seen["network"]
