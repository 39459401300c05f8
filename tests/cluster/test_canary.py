"""Canary releases on the cluster (docs/operations.md, "Releasing: canary"): Argo Rollouts, from the
cluster's `rollouts` add-on, runs the backend's and the orchestrator's releases as k8s/canary
declares them (tests/cluster/canary: only the pauses, the replica count and the analysis interval
shorter), while users chat through the frontend the whole time.

- A bad orchestrator release (its model endpoint moved to a server that is not running) is
  aborted by the analysis and every pod is back on the stable version; `kubectl rollout undo` then
  returns the Deployment to what runs. No user sees a failure, no accepted message is lost or
  answered twice: the new pods' requests wait for the model (docs/kafka.md, "Unavailable") and are
  answered by the stable pods once the canary is gone.
- A good release of both goes 10% → 50% → 100% and is promoted.

Runs after the other tests of the deployment (conftest.py): it hands the two Deployments' pods to
Rollouts, and gives them back at the end."""

import asyncio
import re
import shlex
import time

import httpx
import pytest

from tests.support import chaos
from tests.support.kube import CONTEXT, ROOT, Deployment, Kube, live_pods, ready, run
from tests.support.runbook import commands as runbook_commands

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]

CANARY = ROOT / "tests/cluster/canary"
RELEASED = ("backend", "orchestrator")
# The bad release's model endpoint: a Service with no pod behind it, so connections are refused.
MODEL_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: llm, labels: {app.kubernetes.io/part-of: alice}}
spec:
  selector: {app: alice-llm-not-deployed}
  ports: [{name: http, port: 8000, targetPort: 8000}]
"""
BAD_SETTINGS = ("LLM_PROVIDER=openai", "LLM_BASE_URL=http://llm:8000/v1")


def runbook(kube: Kube, starts: str, *replace: tuple[str, str]) -> str:
    """Runs the command of docs/operations.md's release steps that starts with `starts`, as
    written (after the replacements: regular expressions), with the cluster's context; returns
    its output."""
    (command,) = [c for c in runbook_commands("Releasing: canary") if c.startswith(starts)]
    for old, new in replace:
        command = re.sub(old, new, command)
    argv = shlex.split(command)
    return run([argv[0], "--context", CONTEXT, *argv[1:]], kube.env, 120).stdout


def rollout(kube: Kube, name: str) -> dict:
    return kube.json("get", "rollout", name)


def is_healthy(found: dict) -> bool:
    status = found.get("status", {})
    return status.get("phase") == "Healthy" and status.get("availableReplicas") == found["spec"]["replicas"]


def healthy(kube: Kube, name: str) -> dict | None:
    found = rollout(kube, name)
    return found if is_healthy(found) else None


def wait_healthy(kube: Kube, *names: str, timeout_s: float = 900) -> None:
    for name in names:
        kube.wait_for(f"rollout {name} Healthy", lambda n=name: healthy(kube, n), timeout_s, interval_s=3)


def latest_analysis(kube: Kube, name: str) -> dict:
    """The newest AnalysisRun of the Rollout `name`."""
    runs = [
        r
        for r in kube.json("get", "analysisrun")["items"]
        if any(o["kind"] == "Rollout" and o["name"] == name for o in r["metadata"].get("ownerReferences", []))
    ]
    assert runs, f"no AnalysisRun of rollout {name}"
    return max(runs, key=lambda r: r["metadata"]["creationTimestamp"])


def template_hash(pod: dict) -> str | None:
    return pod["metadata"]["labels"].get("rollouts-pod-template-hash")


def pod_template_image(kube: Kube, deployment: str) -> str:
    found = kube.json("get", "deployment", deployment)
    return found["spec"]["template"]["spec"]["containers"][0]["image"]


@pytest.fixture(scope="module")
def rollouts(deployed: Deployment):
    """The two Rollouts of k8s/canary running the Deployments' pods; at the end the Deployments
    run their pods again, as before."""
    kube = deployed.kube
    kube("apply", "-f", "-", input=MODEL_SERVICE)
    kube("apply", "-k", str(CANARY))
    wait_healthy(kube, *RELEASED)
    for name in RELEASED:  # workloadRef with scaleDown: the Deployment hands its pods over
        kube.wait_for(
            f"deployment {name} scaled down",
            lambda n=name: kube.json("get", "deployment", n)["spec"]["replicas"] == 0,
            300,
        )
    yield kube
    kube("delete", "-k", str(CANARY), "--wait", "--timeout=300s", timeout=360, check=False)
    kube("delete", "service", "llm", "--ignore-not-found", check=False)
    for name in RELEASED:
        kube("scale", f"deployment/{name}", "--replicas=1")
    for name in RELEASED:
        kube("rollout", "status", f"deployment/{name}", "--timeout=600s", timeout=660)


class StepLog:
    """What a Rollout went through: (step index, new pods available, stable pods available)."""

    def __init__(self, kube: Kube, name: str) -> None:
        self.kube, self.name = kube, name
        self.seen: list[tuple[int, int, int]] = []

    def record(self) -> dict:
        found = rollout(self.kube, self.name)
        status = found.get("status", {})
        new_hash, stable_hash = status.get("currentPodHash"), status.get("stableRS")
        hashes = [template_hash(p) for p in live_pods(self.kube, self.name) if ready(p)]
        new = hashes.count(new_hash) if new_hash != stable_hash else 0
        entry = (status.get("currentStepIndex", -1), new, hashes.count(stable_hash))
        if not self.seen or self.seen[-1] != entry:
            self.seen.append(entry)
        return found


async def chat_through(deployed: Deployment, prefix: str, release) -> tuple[chaos.Outcome, dict]:
    """Six users chat (a message every 18 s each) before, during and after `release()`, one on each
    partition of `chat.requests`, so that a canary orchestrator pod always has requests to handle
    (with fewer conversations, none might land on its partitions, and its analysis would measure
    nothing); then every accepted message's reply is read to its end. Returns what they saw and what
    is stored."""
    schedule = chaos.Schedule(kills=1, warmup_s=20, pace_s=18, drain_s=600)
    async with httpx.AsyncClient(base_url=deployed.url, timeout=60) as api:
        config = deployed.kube.json("get", "configmap", "alice-config")["data"]
        users = await chaos.users_on_every_partition(api, int(config["KAFKA_TOPIC_PARTITIONS"]), prefix)
        outcome = await chaos.run(api, users, schedule, release)
        stored = await chaos.stored_messages(api, users)
    return outcome, stored


async def test_a_bad_orchestrator_release_is_aborted_and_no_user_sees_it(
    deployed: Deployment, rollouts: Kube
) -> None:
    kube = rollouts
    stable = rollout(kube, "orchestrator")["status"]["stableRS"]
    aborted: dict = {}

    async def bad_release() -> None:
        started = time.monotonic()
        await asyncio.to_thread(kube, "set", "env", "deployment/orchestrator", *BAD_SETTINGS)

        def abort() -> dict | None:
            found = rollout(kube, "orchestrator")
            return found if found.get("status", {}).get("abort") else None

        found = await asyncio.to_thread(kube.wait_for, "the bad release aborted", abort, 900, 3)
        aborted["after_s"] = time.monotonic() - started
        aborted["message"] = found["status"].get("message", "")
        analysis = await asyncio.to_thread(latest_analysis, kube, "orchestrator")
        results = analysis["status"].get("metricResults", [])
        aborted["analysis"] = {m["name"]: m["phase"] for m in results}
        aborted["values"] = {m["name"]: [x.get("value") for x in m.get("measurements", [])] for m in results}
        # Every pod back on the stable version before anything else is done.
        only_stable = lambda: {template_hash(p) for p in live_pods(kube, "orchestrator")} == {stable}  # noqa: E731
        await asyncio.to_thread(kube.wait_for, "only stable orchestrator pods", only_stable, 300)
        assert "Failed" in await asyncio.to_thread(runbook, kube, "kubectl -n alice get analysisrun")
        # The operator's fix, as the runbook says: the Deployment back to the version that runs.
        await asyncio.to_thread(runbook, kube, "kubectl -n alice rollout undo deployment/orchestrator")
        await asyncio.to_thread(wait_healthy, kube, "orchestrator")

    outcome, stored = await chat_through(deployed, "canary-bad", bad_release)
    found = chaos.findings(outcome, stored, dead_lettered=[])
    report = chaos.verdict(outcome, found)
    print(
        f"\ncanary, bad release: aborted after {aborted.get('after_s', 0):.0f} s "
        f"({aborted.get('analysis')}, measured {aborted.get('values')}); {report}"
    )
    assert aborted["analysis"].get("error-rate") == "Failed", aborted
    assert rollout(kube, "orchestrator")["status"]["stableRS"] == stable
    env = kube.json("get", "deployment", "orchestrator")["spec"]["template"]["spec"]["containers"][0].get(
        "env", []
    )
    assert not {f"{e['name']}={e.get('value')}" for e in env} & set(BAD_SETTINGS), env
    assert len(outcome.accepted) >= 8, report
    assert not any(found.values()), report


async def test_a_good_release_of_both_goes_10_50_100_and_is_promoted(
    deployed: Deployment, rollouts: Kube
) -> None:
    kube = rollouts
    logs = {name: StepLog(kube, name) for name in RELEASED}
    released: dict[str, str] = {}

    async def good_release() -> None:
        # A new version, as a release tags it: the image the Deployment runs, under a new tag.
        for name in RELEASED:
            current = pod_template_image(kube, name).split("@", 1)[0]
            repository = current.rsplit(":", 1)[0]
            released[name] = f"{repository}:canary-release-2"
            await asyncio.to_thread(
                run, ["tools/cluster/cluster.sh", "tag", current, released[name]], kube.env, 120
            )
            await asyncio.to_thread(
                runbook,
                kube,
                "kubectl -n alice set image deployment/orchestrator",
                # The documented example releases the orchestrator: this service, this image.
                (r"orchestrator=\S+", f"orchestrator={released[name]}"),
                ("orchestrator", name),
            )
        deadline = time.monotonic() + 900
        while not all([await asyncio.to_thread(promoted, n) for n in RELEASED]):
            assert time.monotonic() < deadline, {n: log.seen for n, log in logs.items()}
            await asyncio.sleep(3)

    def promoted(name: str) -> bool:
        found = logs[name].record()
        status = found.get("status", {})
        return (
            len(logs[name].seen) > 1
            and status.get("stableRS") == status.get("currentPodHash")
            and is_healthy(found)
        )

    outcome, stored = await chat_through(deployed, "canary-good", good_release)
    found = chaos.findings(outcome, stored, dead_lettered=[])
    report = chaos.verdict(outcome, found)
    print(f"\ncanary, good release: steps {[(n, log.seen) for n, log in logs.items()]}; {report}")
    for name, log in logs.items():
        steps = len(rollout(kube, name)["spec"]["strategy"]["canary"]["steps"])  # 10%, pause, 50%, pause
        indexes = [step for step, _, _ in log.seen]
        assert indexes == sorted(indexes) and {1, 3, steps} <= set(indexes), (name, log.seen)
        # 10% and 50% of two replicas: each one new pod beside stable ones (seen: two at 10%, one at 50%).
        for pause in (1, 3):
            assert any(step == pause and new == 1 and old >= 1 for step, new, old in log.seen), (
                name,
                log.seen,
            )
        # Promoted: the new version is the stable one and runs every pod.
        assert log.seen[-1] == (steps, 0, 2), (name, log.seen)
        assert kube.images(f"app.kubernetes.io/name={name}") == {released[name]}
    assert len(outcome.accepted) >= 8, report
    assert not any(found.values()), report
