"""Backups that restore (issue 21): `make restore-drill`, as documented in docs/operations.md ("How to
back up and restore"), against the deployment the other cluster tests use. The drill triggers each
backup CronJob (`kubectl create job --from=cronjob/...`, the runbook's "Back up now" read from the
doc), checks each artifact, deletes the MongoDB, Redis and Weaviate pods and their data claims,
restores them (the runbook's "Restore", as written) and checks what every user sees. This test then
checks, independently of the drill, that the stores really were new (their claims were replaced)
and that the system still answers a new message afterwards."""

import time

import httpx
import pytest

from tests.support.kube import Deployment, Kube, ready, run
from tests.support.stack import ask, register

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]

DATA_CLAIMS = ["mongo-data-mongodb-0", "weaviate-data-weaviate-0", "redis-pvc"]


def claim_uids(kube: Kube) -> dict[str, str]:
    claims = kube.json("get", "pvc")["items"]
    return {
        c["metadata"]["name"]: c["metadata"]["uid"] for c in claims if c["metadata"]["name"] in DATA_CLAIMS
    }


async def test_the_restore_drill_brings_back_what_users_had(deployed: Deployment) -> None:
    kube = deployed.kube
    before = claim_uids(kube)
    assert set(before) == set(DATA_CLAIMS), before
    started = time.monotonic()
    drill = run(["make", "restore-drill", f"URL={deployed.url}"], kube.env, 2100, check=False)
    elapsed = time.monotonic() - started
    print(f"\nrestore drill: {elapsed:.0f}s\n{drill.stdout[-6000:]}")
    assert drill.returncode == 0, f"{drill.stdout[-6000:]}\n{drill.stderr[-3000:]}"
    assert "restore drill passed: 2 users" in drill.stdout
    # Each backup Job ran from its CronJob and completed.
    for store in ("mongodb", "redis", "weaviate"):
        job = kube.json("get", "job", f"backup-{store}-now")
        assert job["metadata"]["ownerReferences"][0]["name"] == f"backup-{store}"
        assert job["status"].get("succeeded") == 1, job["status"]
        restore = kube.json("get", "job", f"restore-{store}")
        assert restore["status"].get("succeeded") == 1, restore["status"]
    # The data volumes were really replaced: the data came back from the backups alone.
    after = claim_uids(kube)
    assert set(after) == set(DATA_CLAIMS) and not set(after.values()) & set(before.values()), (before, after)
    for name in ("backend", "orchestrator", "dataflow", "mongodb", "redis", "weaviate"):
        assert all(ready(p) for p in kube.pods(f"app.kubernetes.io/name={name}")), name
    async with httpx.AsyncClient(base_url=deployed.url, timeout=60) as api:
        auth = await register(api, "after-restore")
        answer = await ask(api, auth, "Say hello.", direct=False)
    assert answer["message"]["status"] == "completed" and answer["message"]["content"].strip()
