"""Pods dying in the cluster: the orchestrator killed mid-reply, the orchestrator rolled during a
stream of messages, and the stores' pods deleted with their data on PVCs. Runs after
test_deploy.py (file order); it deletes pods. docs/operations.md, "Pod death", says what each
kubectl command does to the process."""

import asyncio
import contextlib
import time

import httpx
import pytest
from alice_common import topics
from alice_common.reply_stream import DONE, RESET, TOKEN

from tests.support import chaos
from tests.support.kube import Deployment, Kube, live_pods, ready, run
from tests.support.stack import (
    LONG_QUESTION,
    ask,
    new_conversation,
    new_credentials,
    register,
    reply_killed_at_first_token,
    send,
    sse_events,
)

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(3600)]

NODE = "alice-control-plane"  # tools/cluster's node container (kind names its node the same)


def one_pod(kube: Kube, name: str) -> dict:
    pods = live_pods(kube, name)
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def all_ready(kube: Kube, *names: str, timeout_s: float = 600) -> None:
    for name in names:
        kube.wait_for(
            f"{name} Ready",
            lambda n=name: (pods := kube.pods(f"app.kubernetes.io/name={n}")) and all(ready(p) for p in pods),
            timeout_s,
        )


def wait_replaced_and_ready(kube: Kube, name: str, old_uid: str, timeout_s: float = 600) -> dict:
    def replaced() -> dict | None:
        fresh = [p for p in kube.pods(f"app.kubernetes.io/name={name}") if p["metadata"]["uid"] != old_uid]
        return fresh[0] if fresh and ready(fresh[0]) else None

    return kube.wait_for(f"a new {name} pod Ready", replaced, timeout_s)


def sigkill_container(kube: Kube, pod: dict) -> None:
    """SIGKILL to the pod's container, from the node (containerd): no shutdown code runs. PID 1
    of a container ignores SIGKILL sent from inside it, so `kubectl exec ... kill -9 1` would not do."""
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    run(["docker", "exec", NODE, "ctr", "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", container_id],
        kube.env, 60)  # fmt: skip


async def test_the_orchestrator_killed_mid_reply_resets_and_completes_once(deployed: Deployment) -> None:
    """`kubectl delete pod --grace-period=0 --force` removes the pod from the API at once (the
    Deployment starts a new one) but the kubelet still stops the old container gracefully, and a
    graceful orchestrator finishes its reply. So the process is also SIGKILLed on the node, as a
    crashed node or OOM kill would: Kafka hands the unacknowledged request to the new pod, and the
    client's stream sees `reset`, then exactly one completed reply."""
    kube = deployed.kube
    all_ready(kube, "orchestrator", "backend")
    victim = one_pod(kube, "orchestrator")

    async def kill() -> None:
        await asyncio.to_thread(
            kube, "delete", "pod", victim["metadata"]["name"], "--grace-period=0", "--force"
        )
        await asyncio.to_thread(sigkill_container, kube, victim)

    async with httpx.AsyncClient(base_url=deployed.url, timeout=60) as api:
        kinds = await reply_killed_at_first_token(
            api, "cluster-kill", kill, read_timeout_s=900, direct=False, question=LONG_QUESTION
        )
    assert kinds.count(RESET) == 1, kinds
    assert one_pod(kube, "orchestrator")["metadata"]["uid"] != victim["metadata"]["uid"]


async def test_the_inference_service_killed_mid_reply_resets_and_completes_once(deployed: Deployment) -> None:
    """The model server's container SIGKILLed on the node at the first token: the orchestrator's
    attempt fails, it waits (spending no attempt) while the server restarts and loads the model,
    and the retry starts the reply over: `reset`, then exactly one completed reply."""
    kube = deployed.kube
    all_ready(kube, "inference", "orchestrator", "backend")
    victim = one_pod(kube, "inference")
    before = victim["status"]["containerStatuses"][0]["restartCount"]

    async def kill() -> None:
        await asyncio.to_thread(sigkill_container, kube, victim)

    async with httpx.AsyncClient(base_url=deployed.url, timeout=60) as api:
        kinds = await reply_killed_at_first_token(
            api, "cluster-kill-inference", kill, read_timeout_s=900, direct=False, question=LONG_QUESTION
        )
    assert kinds.count(RESET) == 1, kinds
    after = one_pod(kube, "inference")["status"]["containerStatuses"][0]["restartCount"]
    assert after == before + 1, "the container was killed and restarted"


async def test_a_rolling_update_of_the_orchestrator_loses_and_repeats_nothing(deployed: Deployment) -> None:
    """`kubectl rollout restart` while a user sends message after message: every message gets
    exactly one completed reply (the old pod drains or hands its in-flight reply over)."""
    kube = deployed.kube
    all_ready(kube, "orchestrator", "backend")
    before = {p["metadata"]["uid"] for p in kube.pods("app.kubernetes.io/name=orchestrator")}
    rollout: asyncio.Task | None = None
    sent: list[str] = []
    streams: list[list[str]] = []
    async with httpx.AsyncClient(base_url=deployed.url, timeout=60) as api:
        auth = await register(api, "cluster-roll")
        conversation = await new_conversation(api, auth)
        deadline = time.monotonic() + 900
        # The rollout starts during the first reply; messages go on until it is done, three at least.
        while rollout is None or not rollout.done() or len(sent) < 3:
            assert time.monotonic() < deadline, f"{len(sent)} messages sent, the rollout not done"
            content = f"Message {len(sent) + 1}: name one animal, in one short sentence."
            accepted = await send(api, auth, conversation, content)
            sent.append(content)

            async def on_event(event: dict) -> None:
                nonlocal rollout
                if rollout is None and event["event"] == TOKEN:
                    await asyncio.to_thread(kube, "rollout", "restart", "deployment/orchestrator")
                    rollout = asyncio.create_task(
                        asyncio.to_thread(
                            kube,
                            "rollout",
                            "status",
                            "deployment/orchestrator",
                            "--timeout=600s",
                            timeout=660,
                        )
                    )

            events = await sse_events(
                api, accepted["stream_url"], auth, on_event=on_event, read_timeout_s=600, direct=False
            )
            streams.append([e["event"] for e in events])
            assert events[-1]["event"] == DONE, streams[-1]
        await rollout
        listed = (await api.get(f"/api/conversations/{conversation}/messages", headers=auth)).json()["items"]
    after = {p["metadata"]["uid"] for p in live_pods(kube, "orchestrator")}
    assert after and not after & before, "the rollout replaced the orchestrator pod"
    roles = [m["role"] for m in listed]
    assert roles == ["user", "assistant"] * len(sent), roles
    assert [m["content"] for m in listed[::2]] == sent
    replies = listed[1::2]
    assert all(m["status"] == "completed" and m["content"].strip() for m in replies), replies
    print(f"\nrolling update: {len(sent)} messages, streams: {streams}")


async def test_users_chat_through_kills_and_a_rolling_restart(deployed: Deployment) -> None:
    """The chaos schedule of tests/e2e/test_chaos.py, shortened, on the cluster: the orchestrator's
    pod is SIGKILLed on the node (as above) every 15 s, and `kubectl rollout restart` rolls it
    between two kills. Every accepted message ends with one completed reply equal to the stored
    one, none is stored twice, none fails (a dead-lettered request would end as `failed`)."""
    kube = deployed.kube
    all_ready(kube, "orchestrator", "backend")

    async def kill() -> None:
        pods = live_pods(kube, "orchestrator")
        victim = next((p for p in pods if ready(p)), pods[0])  # a working one, if any is ready
        await asyncio.to_thread(
            kube, "delete", "pod", victim["metadata"]["name"], "--grace-period=0", "--force", "--wait=false"
        )
        # A pod still starting may have no container to kill yet.
        with contextlib.suppress(AssertionError, KeyError, IndexError):
            await asyncio.to_thread(sigkill_container, kube, victim)

    async def rollout() -> None:
        await asyncio.to_thread(kube, "rollout", "restart", "deployment/orchestrator")
        await asyncio.to_thread(
            kube, "rollout", "status", "deployment/orchestrator", "--timeout=600s", timeout=660
        )

    schedule = chaos.Schedule(
        kills=4, interval_s=15, warmup_s=10, pace_s=15, restarts={2: ("orchestrator (rollout)", rollout)},
        drain_s=600,
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=deployed.url, timeout=60) as api:
        users = await chaos.new_users(api, 4, "cluster-chaos")
        outcome = await chaos.run(api, users, schedule, kill)
        stored = await chaos.stored_messages(api, users)
    found = chaos.findings(outcome, stored, dead_lettered=[])
    report = chaos.verdict(outcome, found)
    print(f"\ncluster chaos: {report}")
    assert len(outcome.kill_times) == 4 and outcome.restarts, report
    assert not any(found.values()), report


async def retrying(request, timeout_s: float) -> httpx.Response:
    """As a client does while a service comes back: a 503 "retry shortly" from the backend, or
    nginx's 502/504 while the backend is out of the Service, is tried again."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await request()
        if response.status_code not in (502, 503, 504) or time.monotonic() > deadline:
            return response
        await asyncio.sleep(float(response.headers.get("retry-after", "2")))


def kafka_topic_bytes(kube: Kube, topic_prefix: str) -> int:
    script = f"du -sb /var/lib/kafka/data/{topic_prefix}* | awk '{{s += $1}} END {{print s + 0}}'"
    return int(kube("exec", "kafka-0", "-c", "kafka", "--", "sh", "-c", script).stdout.strip() or 0)


async def test_the_stores_keep_their_data_when_their_pods_are_deleted(deployed: Deployment) -> None:
    """Redis, Kafka and the Mongo-protocol server each lose their pod; the PVCs bring the data back:
    the account, the conversation, the reply's event stream (Redis), the Kafka log."""
    kube = deployed.kube
    all_ready(kube, "backend", "orchestrator", "dataflow")
    credentials = new_credentials("cluster-persist")
    async with httpx.AsyncClient(base_url=deployed.url, timeout=60) as api:
        response = await api.post("/api/auth/register", json=credentials)
        assert response.status_code == 201, response.text
        auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
        answer = await ask(api, auth, "Say hello.", direct=False)
        reply_stream = f"/api/replies/{answer['message']['id']}/stream"
        before_events = await sse_events(api, reply_stream, auth, read_timeout_s=120, direct=False)
    kafka_before = kafka_topic_bytes(kube, topics.CHAT_REQUESTS.name)
    assert kafka_before > 0

    for name in ("redis", "kafka", "mongodb"):
        pod = one_pod(kube, name)
        kube("delete", "pod", pod["metadata"]["name"], "--wait=true", timeout=300)
        wait_replaced_and_ready(kube, name, pod["metadata"]["uid"])
    all_ready(kube, "backend", "orchestrator")

    assert kafka_topic_bytes(kube, topics.CHAT_REQUESTS.name) >= kafka_before
    # Redis's own view first: the finished reply's stream, every entry, loaded from the PVC.
    xlen = kube("exec", "deploy/redis", "--", "redis-cli", "XLEN", f"reply:{answer['message']['id']}")
    assert int(xlen.stdout.strip()) == len(before_events), xlen.stdout
    async with httpx.AsyncClient(base_url=deployed.url, timeout=60) as api:
        # Until the backend has reconnected to the replaced pods it answers 503 "retry shortly", and
        # while its readiness probe takes it out of the Service nginx answers 502: a client retries.
        login = await retrying(lambda: api.post("/api/auth/login", json=credentials), 300)
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        # The backend may go in and out of the Service a few times while the stores settle.
        listed = await retrying(lambda: api.get("/api/conversations", headers=auth), 300)
        assert listed.status_code == 200, listed.text
        assert [c["id"] for c in listed.json()["items"]] == [answer["conversation"]]
        url = f"/api/conversations/{answer['conversation']}/messages"
        messages = await retrying(lambda: api.get(url, headers=auth), 300)
        assert messages.status_code == 200, messages.text
        assert messages.json()["items"][-1]["content"] == answer["message"]["content"]
        # The reply's event stream lives in Redis: replayed whole after the restart.
        after_events = await sse_events(api, reply_stream, auth, read_timeout_s=120, direct=False)
        assert after_events == before_events
        # And the system still answers through the restarted Kafka.
        again = await ask(api, auth, "Say goodbye.", direct=False)
    assert again["message"]["status"] == "completed" and again["message"]["content"].strip()
