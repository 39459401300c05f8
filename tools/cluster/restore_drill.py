"""The restore drill (`make restore-drill`, docs/operations.md "How to back up and restore"), against
Alice deployed in the local cluster (`make cluster-dev`) or any cluster the current kube-context names:

1. create users, each with a conversation whose reply has finished and an indexed document;
2. back up: the runbook's "Back up now" commands, read from docs/operations.md and run as written
   (a Job from each backup CronJob), and check each artifact the Jobs report;
3. destroy the data: the MongoDB, Redis and Weaviate pods are deleted (scaled to 0) with their
   PersistentVolumeClaims, and the stores start again empty;
4. restore: the runbook's "Restore" commands, as written, with the backups of step 2;
5. check that every user logs in and sees the same conversations, messages and documents, that
   search finds each document and that each finished reply's event stream replays identically.

Exits 0 and prints "restore drill passed" only when every check holds. Kafka is not destroyed: its
data is covered by replication, not by these backups (docs/operations.md says where this falls short).

    source scripts/env.sh && $UV run --frozen python tools/cluster/restore_drill.py [--url URL]
"""

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "alice"
RUNBOOK = ROOT / "docs/operations.md"
BACKUP_HEADING = "#### Back up now"
RESTORE_HEADING = "#### Restore"
# The stores whose volumes the drill deletes, and each one's data claim (not its backups').
STORES = {"mongodb": "statefulset", "weaviate": "statefulset", "redis": "deployment"}
WROTE = re.compile(r"^wrote (\S+)", re.M)
STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.0f}s] {text}", flush=True)


def cluster_env() -> dict[str, str]:
    """kubectl of the local cluster (its own kubeconfig and version) unless KUBECONFIG is set."""
    env = dict(os.environ)
    cache = Path(env.get("ALICE_CACHE_DIR", Path.home() / ".cache/alice")) / "cluster"
    if "KUBECONFIG" not in env and (cache / "kubeconfig").is_file():
        env["KUBECONFIG"] = str(cache / "kubeconfig")
    kubectl_dir = next((cache / "bin").glob("kubernetes-*"), None)
    if kubectl_dir:
        env["PATH"] = f"{kubectl_dir}:{env['PATH']}"
    return env


ENV = cluster_env()


def kubectl(*args: str, timeout: float = 300, check: bool = True) -> str:
    result = subprocess.run(
        ["kubectl", "-n", NAMESPACE, *args], env=ENV, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def runbook_block(heading: str) -> str:
    """The bash block under `heading` in docs/operations.md."""
    text = RUNBOOK.read_text()
    found = re.search(re.escape(heading) + r"\n.*?```bash\n(.*?)```", text, re.S)
    if not found:
        raise SystemExit(f"no bash block under {heading!r} in {RUNBOOK}")
    return found.group(1)


def run_runbook(heading: str, extra_env: dict[str, str] | None = None) -> None:
    say(f"running the runbook's {heading.lstrip('# ')!r} as written")
    block = runbook_block(heading)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT, env={**ENV, **(extra_env or {})}, text=True, capture_output=True, timeout=1800,
    )  # fmt: skip
    print(result.stdout + result.stderr, flush=True)
    if result.returncode != 0:
        raise SystemExit(f"the runbook's {heading!r} failed ({result.returncode})")


def wait_until(what: str, predicate, timeout_s: float, interval_s: float = 3):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(interval_s)


def pods(name: str) -> list[dict]:
    return json.loads(kubectl("get", "pods", "-l", f"app.kubernetes.io/name={name}", "-o", "json"))["items"]


def ready(name: str) -> bool:
    found = pods(name)
    return bool(found) and all(
        not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        for p in found
    )


# --- the users' side, through the public API -------------------------------------------------------


async def retrying(request, timeout_s: float = 300) -> httpx.Response:
    """As a client does while the system comes back: 502/503/504 and dropped connections are retried."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = await request()
            if response.status_code not in (502, 503, 504) or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(2)


async def events_of(api: httpx.AsyncClient, url: str, auth: dict) -> list[dict]:
    """A reply's event stream up to done/failed, as [{id, event, data}]."""
    events, current = [], {}
    async with api.stream("GET", url, headers=auth, timeout=600) as response:
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code} {await response.aread()!r}")
        async for line in response.aiter_lines():
            if line == "":
                if "event" in current:
                    events.append(current)
                    if current["event"] in ("done", "failed"):
                        break
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                current[name] = value.removeprefix(" ")
    return events


async def create_user(api: httpx.AsyncClient, n: int) -> dict:
    tag = uuid.uuid4().hex[:8]
    credentials = {"email": f"drill-{n}-{tag}@example.com", "password": f"drill-pw-{uuid.uuid4().hex}"}
    response = await api.post("/api/auth/register", json=credentials)
    if response.status_code != 201:
        raise SystemExit(f"register: {response.status_code} {response.text}")
    auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
    # A title of its own: no title is generated after the reply (which would change it meanwhile).
    created = await api.post("/api/conversations", headers=auth, json={"title": f"Drill {tag}"})
    conversation = created.json()["id"]
    accepted = await api.post(
        f"/api/conversations/{conversation}/messages",
        headers=auth, json={"content": "Name one colour, in one short sentence."},
    )  # fmt: skip
    if accepted.status_code != 202:
        raise SystemExit(f"send: {accepted.status_code} {accepted.text}")
    events = await events_of(api, accepted.json()["stream_url"], auth)
    if not events or events[-1]["event"] != "done":
        raise SystemExit(f"the reply did not finish: {[e['event'] for e in events]}")
    word = f"zephyrine{tag}"  # a word only this user's document holds
    body = f"# Drill {tag}\n\nThe {word} valve of the drill station is painted orange.\n".encode()
    upload = await api.post(
        "/api/documents", headers=auth, files={"file": (f"drill-{tag}.md", body, "text/markdown")}
    )
    if upload.status_code != 202:
        raise SystemExit(f"upload: {upload.status_code} {upload.text}")
    document = upload.json()["document"]["id"]
    deadline = time.monotonic() + 300
    while (
        status := (await api.get(f"/api/documents/{document}", headers=auth)).json()["status"]
    ) != "indexed":
        if status == "failed" or time.monotonic() > deadline:
            raise SystemExit(f"document {document}: {status}")
        await asyncio.sleep(1)
    return {
        "credentials": credentials,
        "word": word,
        "document": document,
        "reply_stream": f"/api/replies/{accepted.json()['reply_id']}/stream",
    }


async def what_the_user_sees(api: httpx.AsyncClient, user: dict) -> dict:
    """Everything the checks compare, read through the public API after logging in."""
    login = await retrying(lambda: api.post("/api/auth/login", json=user["credentials"]))
    if login.status_code != 200:
        raise SystemExit(f"{user['credentials']['email']} cannot log in: {login.status_code} {login.text}")
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

    async def get(url: str, **params) -> dict:
        response = await retrying(lambda: api.get(url, headers=auth, params=params))
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code} {response.text}")
        return response.json()

    conversations = (await get("/api/conversations"))["items"]
    messages = {
        c["id"]: (await get(f"/api/conversations/{c['id']}/messages"))["items"] for c in conversations
    }
    documents = (await get("/api/documents"))["items"]
    hits = (await get("/api/search", q=user["word"]))["items"]
    return {
        "conversations": conversations,
        "messages": messages,
        "documents": documents,
        "search": sorted({h["document_id"] for h in hits if h["type"] == "document"}),
        "reply_events": await events_of(api, user["reply_stream"], auth),
    }


async def settled_view(api: httpx.AsyncClient, user: dict, timeout_s: float = 120) -> dict:
    """What the user sees once nothing changes any more (work after a reply's `done` is finished)."""
    deadline = time.monotonic() + timeout_s
    seen = await what_the_user_sees(api, user)
    while True:
        await asyncio.sleep(3)
        again = await what_the_user_sees(api, user)
        if again == seen:
            return seen
        if time.monotonic() > deadline:
            raise SystemExit(f"{user['credentials']['email']}: the view keeps changing")
        seen = again


def compare(user: dict, before: dict, after: dict) -> list[str]:
    email = user["credentials"]["email"]
    problems = [f"{email}: {key} differ" for key in before if before[key] != after[key]]
    if user["document"] not in after["search"]:
        problems.append(f"{email}: search for {user['word']!r} does not find document {user['document']}")
    replies = [m for ms in after["messages"].values() for m in ms if m["role"] == "assistant"]
    if not replies or not all(m["status"] == "completed" for m in replies):
        problems.append(f"{email}: no finished reply")
    if not after["reply_events"] or after["reply_events"][-1]["event"] != "done":
        problems.append(f"{email}: the reply's stream does not replay to `done`")
    return problems


# --- the operator's side ----------------------------------------------------------------------------


def backup() -> dict[str, str]:
    """The runbook's "Back up now"; returns the artifact each Job reported, after checking its log."""
    run_runbook(BACKUP_HEADING)
    artifacts = {}
    for store in STORES:
        log = kubectl("logs", f"job/backup-{store}-now")
        wrote = WROTE.findall(log)
        if not wrote:
            raise SystemExit(f"backup-{store}-now reported no artifact:\n{log}")
        artifacts[store] = wrote[-1]
        if store == "mongodb":
            # alice_common.mongo_backup: "dumped users: 3 documents";
            # mongodump: "done dumping alice.users (3 documents)"
            dumped = dict(re.findall(r"^dumped (\S+): (\d+) documents", log, re.M))
            dumped.update(re.findall(r"done dumping [^.\s]+\.(\S+) \((\d+) documents?\)", log))
            for collection in ("users", "conversations", "messages", "documents"):
                if int(dumped.get(collection, 0)) == 0:
                    raise SystemExit(f"the MongoDB dump holds no {collection}:\n{log}")
        if store == "redis" and not re.search(r"^wrote dump-\S+\.rdb \((?!0\b)", log, re.M):
            raise SystemExit(f"the Redis snapshot is empty:\n{log}")
        if store == "weaviate" and f"backup {wrote[-1]}: SUCCESS" not in log:
            raise SystemExit(f"the Weaviate backup did not succeed:\n{log}")
    say(f"backed up: {artifacts}")
    return artifacts


def destroy() -> None:
    """The stores' pods and their data volumes deleted; the stores started again, empty."""
    claims = {}
    for name, kind in STORES.items():
        spec = json.loads(kubectl("get", kind, name, "-o", "json"))["spec"]
        if kind == "statefulset":
            claims[name] = [f"{spec['volumeClaimTemplates'][0]['metadata']['name']}-{name}-0"]
        else:
            volumes = spec["template"]["spec"]["volumes"]
            claims[name] = [
                v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v
            ]
    # A Deployment's claim is not recreated by its controller: kept, to be applied again empty
    # (what `kubectl apply -f k8s/redis/` does in production).
    standalone = []
    for claim in claims["redis"]:
        live = json.loads(kubectl("get", "pvc", claim, "-o", "json"))
        # The claim exactly as it was applied, so that the next `kubectl apply` of the manifests
        # (skaffold, the runbook) finds nothing to change: a spec field the API server defaulted,
        # such as storageClassName, copied in here would be one it must remove, and a bound
        # claim's spec is immutable.
        applied = (
            live["metadata"].get("annotations", {}).get("kubectl.kubernetes.io/last-applied-configuration")
        )
        if applied:
            manifest = json.loads(applied)
        else:
            manifest = {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {k: live["metadata"][k] for k in ("name", "labels") if k in live["metadata"]},
                "spec": {k: live["spec"][k] for k in ("accessModes", "resources")},
            }
        standalone.append(manifest)
    doomed = [claim for names in claims.values() for claim in names]
    say(f"destroying: the pods of {', '.join(STORES)} and the claims {doomed}")
    for name, kind in STORES.items():
        kubectl("scale", kind, name, "--replicas=0")
    for name in STORES:
        wait_until(f"{name}'s pods gone", lambda n=name: not pods(n), 300)
    kubectl("delete", "pvc", *doomed, "--wait=true", timeout=300)
    for manifest in standalone:
        subprocess.run(
            ["kubectl", "-n", NAMESPACE, "apply", "-f", "-"], env=ENV, input=json.dumps(manifest),
            text=True, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    for name, kind in STORES.items():
        kubectl("scale", kind, name, "--replicas=1")
    for name in STORES:
        wait_until(f"{name} Ready again", lambda n=name: ready(n), 600)
    say("the stores run again, empty")


async def drill(url: str, users: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:
        say(f"creating {users} users, each with a finished reply and an indexed document, through {url}")
        created = await asyncio.gather(*(create_user(api, n) for n in range(users)))
        before = [await settled_view(api, user) for user in created]
        for user, seen in zip(created, before, strict=True):
            if user["document"] not in seen["search"]:
                raise SystemExit(f"search does not find document {user['document']} even before the drill")
    artifacts = backup()
    destroy()
    run_runbook(
        RESTORE_HEADING,
        {
            "MONGODB_BACKUP": artifacts["mongodb"],
            "REDIS_BACKUP": artifacts["redis"],
            "WEAVIATE_BACKUP": artifacts["weaviate"],
        },
    )
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:
        problems = []
        for user, seen in zip(created, before, strict=True):
            problems += compare(user, seen, await what_the_user_sees(api, user))
    if problems:
        raise SystemExit("the restore lost data:\n  " + "\n  ".join(problems))
    say(f"restore drill passed: {users} users log in and see the same conversations, messages and documents; "
        "search finds every document; every finished reply replays")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default="http://127.0.0.1:13000", help="Alice's frontend (make cluster-dev's forward)"
    )
    parser.add_argument("--users", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(drill(args.url.rstrip("/"), args.users))
    return 0


if __name__ == "__main__":
    sys.exit(main())
