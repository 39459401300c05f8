"""The whole system under `docker compose`, used through the frontend container's nginx as a browser
would: real Kafka, Redis, the Mongo-protocol server, Weaviate and the local model, all containers.
Runs in file order: the restart and volume tests come last because they stop containers."""

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import smoke
from tests.support.composestack import ALICE_IMAGES, ROOT, Compose, run
from tests.support.stack import (
    LONG_QUESTION,
    ask,
    new_credentials,
    reply_killed_at_first_token,
)

pytestmark = [pytest.mark.containers, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

PORTS = {
    "backend": 8000, "orchestrator": 8001, "dataflow": 8002, "kafkaflow": 9094, "frontend": 3000,
    "inference": 8090,
}  # fmt: skip
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def container_json(container: str, env: dict[str, str]) -> dict:
    return json.loads(run(["docker", "inspect", container], env, 60).stdout)[0]


def test_every_published_port_is_on_loopback_and_the_stores_refuse_strangers(stack: Compose) -> None:
    """docs/operations.md "Security": compose publishes on 127.0.0.1 only, and the stores it
    publishes need credentials (Weaviate its API key, Redis its password)."""
    containers = run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"],
                     stack.env, 60).stdout.split()  # fmt: skip
    assert containers
    published = []
    for container in containers:
        for bindings in (container_json(container, stack.env)["NetworkSettings"]["Ports"] or {}).values():
            published += [binding["HostIp"] for binding in bindings or []]
    assert published and set(published) == {"127.0.0.1"}, published
    weaviate = stack.port("weaviate")
    assert httpx.get(f"http://127.0.0.1:{weaviate}/v1/schema", timeout=10).status_code == 401
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=stack.port("redis"), socket_timeout=10).ping()
    assert redis.Redis(
        port=stack.port("redis"), password=stack.env["REDIS_PASSWORD"], socket_timeout=10
    ).ping()


@pytest.mark.parametrize("service", ALICE_IMAGES)
def test_runs_non_root_on_a_read_only_root_and_answers_health(stack: Compose, service: str) -> None:
    container = stack.container(service)
    info = container_json(container, stack.env)
    assert info["State"]["Health"]["Status"] == "healthy"
    assert info["Config"]["User"] == "10001:10001" and info["HostConfig"]["ReadonlyRootfs"] is True
    assert "/tmp" in info["HostConfig"]["Tmpfs"]
    uid = run(["docker", "exec", container, "id", "-u"], stack.env, 60).stdout.strip()
    assert uid == "10001"
    write = run(["docker", "exec", container, "touch", "/etc/alice-probe"], stack.env, 60, check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr
    run(["docker", "exec", container, "touch", "/tmp/alice-probe"], stack.env, 60)
    port = PORTS[service]
    # Published on loopback only, on this session's port.
    bindings = info["HostConfig"]["PortBindings"][f"{port}/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(stack.port(service))}]
    health = httpx.get(f"http://127.0.0.1:{stack.port(service)}/health", timeout=10)
    assert health.status_code == 200


async def test_sign_up_and_a_reply_streams_through_nginx_token_by_token_and_resumes(stack: Compose) -> None:
    await smoke.a_reply_streams_token_by_token_and_resumes(stack.url, "compose", direct=False)


async def test_an_upload_is_indexed_and_the_answer_cites_it(stack: Compose) -> None:
    await smoke.an_upload_is_indexed_and_the_answer_cites_it(stack.url, "compose-docs", direct=False)


def test_browser_chat_flow_against_the_containers(stack: Compose, tmp_path: Path) -> None:
    """The Playwright chat test (frontend/e2e/run.mjs) in Debian's Chromium, against nginx."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: `scripts/bootstrap.sh --test` installs it"
    assert shutil.which("node") and (ROOT / "frontend/node_modules/playwright-core").is_dir()
    env = os.environ | {
        "ALICE_E2E_URL": stack.url,
        "ALICE_E2E_SCREENSHOTS": str(tmp_path),
        "ALICE_E2E_FAILURES": str(tmp_path / "failures"),
        "CHROMIUM_PATH": CHROMIUM,
    }
    argv = ["node", "--test-name-pattern=the reply streams and completes", "e2e/run.mjs"]
    result = subprocess.run(argv, cwd=ROOT / "frontend", env=env, capture_output=True, text=True, timeout=900)
    print(result.stdout[-10000:], result.stderr[-3000:])
    assert result.returncode == 0, result.stdout[-3000:]
    assert "# pass 1" in result.stdout and "# fail 0" in result.stdout, result.stdout[-3000:]


def wait_restarted_and_healthy(container: str, env: dict[str, str], restarts: int, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        info = container_json(container, env)
        if info["RestartCount"] > restarts and info["State"].get("Health", {}).get("Status") == "healthy":
            return info
        assert time.monotonic() < deadline, f"{container} not healthy again: {info['State']}"
        time.sleep(1)


async def test_docker_kill_of_the_orchestrator_mid_reply_resets_and_completes_once(stack: Compose) -> None:
    """`docker kill` mid-reply (SIGKILL: no shutdown code runs). Docker disables the restart policy
    of a container killed by hand, so compose brings it back (`compose start`), as an operator would;
    the client's stream sees `reset`, then exactly one completed reply."""
    orchestrator = stack.container("orchestrator")

    async def kill() -> None:
        await asyncio.to_thread(run, ["docker", "kill", orchestrator], stack.env, 60)
        await asyncio.to_thread(stack, "start", "orchestrator", timeout=300)

    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as api:
        await reply_killed_at_first_token(
            api, "compose-kill", kill, read_timeout_s=600, direct=False, question=LONG_QUESTION
        )
    assert stack.container("orchestrator") == orchestrator, "the same container, started again"


async def test_docker_kill_of_the_inference_service_mid_reply_resets_and_completes_once(
    stack: Compose,
) -> None:
    """The model server dies mid-reply: the orchestrator's attempt fails, it waits while the server
    is unreachable or loading (spending no attempt), and the retry starts the reply over: the
    client's stream sees `reset`, then exactly one completed reply."""
    inference = stack.container("inference")

    async def kill() -> None:
        await asyncio.to_thread(run, ["docker", "kill", inference], stack.env, 60)
        await asyncio.to_thread(stack, "start", "inference", timeout=300)

    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as api:
        await reply_killed_at_first_token(
            api, "compose-kill-inference", kill, read_timeout_s=600, direct=False, question=LONG_QUESTION
        )


def test_a_crashed_orchestrator_is_restarted_by_the_restart_policy(stack: Compose) -> None:
    """A crash (the process dies, as on an OOM kill) is what `restart: unless-stopped` covers."""
    orchestrator = stack.container("orchestrator")
    before = container_json(orchestrator, stack.env)
    os.kill(before["State"]["Pid"], signal.SIGKILL)
    after = wait_restarted_and_healthy(orchestrator, stack.env, before["RestartCount"], 300)
    assert after["RestartCount"] == before["RestartCount"] + 1


def project_volumes(stack: Compose) -> set[str]:
    label = f"label=com.docker.compose.project={stack.project}"
    return set(run(["docker", "volume", "ls", "-q", "--filter", label], stack.env, 60).stdout.split())


async def test_down_and_up_keep_the_data_and_down_v_removes_it(stack: Compose) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as api:
        credentials = new_credentials("persist")
        response = await api.post("/api/auth/register", json=credentials)
        assert response.status_code == 201, response.text
        auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
        kept = ("kept.md", b"# Kept\n\nThis survives a restart.\n", "text/markdown")
        upload = await api.post("/api/documents", headers=auth, files={"file": kept})
        assert upload.status_code == 202, upload.text
        answer = await ask(api, auth, "Say hello.", direct=False)
    stack("down", timeout=300)
    stack("up", "--wait-timeout", "600", timeout=900)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as api:
        login = await api.post("/api/auth/login", json=credentials)
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        conversations = (await api.get("/api/conversations", headers=auth)).json()["items"]
        assert [c["id"] for c in conversations] == [answer["conversation"]]
        url = f"/api/conversations/{answer['conversation']}/messages"
        messages = (await api.get(url, headers=auth)).json()["items"]
        assert messages[-1]["content"] == answer["message"]["content"]
        documents = (await api.get("/api/documents", headers=auth)).json()["items"]
        assert [d["filename"] for d in documents] == ["kept.md"]
    volumes = project_volumes(stack)
    assert {
        f"{stack.project}_{v}" for v in ("mongo-data", "redis-data", "kafka-data", "weaviate-data")
    } <= volumes
    stack("down", "-v", timeout=300)
    assert project_volumes(stack) == set()
    assert not re.search(stack.project, run(["docker", "ps", "-a"], stack.env, 60).stdout)
