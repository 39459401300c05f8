"""Hostile input against the real backend and dataflow processes: one ordinary account must not
take a service down.

For each attack the backend's `/health` is polled every 100 ms and must answer within 1 s, and
every service's memory (its process and its children, such as the dataflow's extraction workers,
summed from /proc as a container's cgroup would count them) must stay within its Kubernetes
limit, read from k8s/<service>/deployment.yaml. The orchestrator runs the real local model. Every
crafted document ends `indexed` or `failed` with a reason; a search flood and a stream flood are
throttled per user.
"""

import asyncio
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml
from alice_common.reply_stream import DONE

from tests.support import pdfmaker
from tests.support.stack import (
    UNTHROTTLED,
    UNTHROTTLED_UPLOADS,
    Stack,
    isolation,
    new_conversation,
    register,
    send,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
HEALTH_BUDGET_S = 1.0


def k8s_memory_limit(service: str) -> int:
    deployment = yaml.safe_load((ROOT / f"k8s/{service}/deployment.yaml").read_text())
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == service]
    value = container["resources"]["limits"]["memory"]
    units = {"Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB}
    return int(value[:-2]) * units[value[-2:]]


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return 0


def tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants, in bytes."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


@dataclass
class Watch:
    """/health latency of the backend and peak memory of every service while an attack runs."""

    backend_url: str
    pids: dict[str, int]
    health_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    peaks: dict[str, int] = field(default_factory=dict)  # per service, with its children
    peak_dataflow_alone: int = 0  # the dataflow process without its extraction children

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.backend_url, timeout=5) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = await client.get("/health")
                    if response.status_code != 200:
                        self.failures.append(f"/health {response.status_code}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"/health {type(exc).__name__}")
                self.health_s.append(time.monotonic() - started)
                for service, pid in self.pids.items():
                    self.peaks[service] = max(self.peaks.get(service, 0), tree_rss(pid))
                self.peak_dataflow_alone = max(self.peak_dataflow_alone, rss(self.pids["dataflow"]))
                await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def stack(infra):
    with Stack(
        infra,
        isolation("hostile"),
        dataflow={"kafka_topic_partitions": 2},
        kafkaflow={},
        orchestrator=dict(llm_provider="local", llm_max_tokens=24, ready_timeout_s=120),
        backend=UNTHROTTLED | UNTHROTTLED_UPLOADS | {"search_rate_capacity": 10, "search_rate_per_s": 0.1},
    ) as up:
        yield up


async def under_watch(stack, attack) -> Watch:
    pids = {name: process.proc.pid for name, process in stack.processes.items()}
    watch = Watch(stack["backend"].url, pids)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch.run(stop))
    try:
        await attack()
    finally:
        stop.set()
        await watcher
    assert not watch.failures, watch.failures[:5]
    assert watch.health_s and max(watch.health_s) < HEALTH_BUDGET_S, (
        f"/health took {max(watch.health_s):.2f} s"
    )
    over = {
        service: f"{peak // MIB} MiB (limit {k8s_memory_limit(service) // MIB} MiB)"
        for service, peak in watch.peaks.items()
        if peak >= k8s_memory_limit(service)
    }
    assert not over, over
    peaks = ", ".join(f"{service} {peak // MIB}" for service, peak in sorted(watch.peaks.items()))
    print(
        f"\n  /health max {max(watch.health_s) * 1000:.0f} ms; peak MiB: {peaks}"
        f" (dataflow process alone {watch.peak_dataflow_alone // MIB})"
    )
    return watch


async def upload_and_settle(
    api: httpx.AsyncClient, auth, name: str, data: bytes, timeout_s: float = 300
) -> dict:
    response = await api.post("/api/documents", headers=auth, files={"file": (name, data)})
    if response.status_code != 202:
        return {"status": "refused", "http": response.status_code, "error": response.json()["error"]}
    document_id = response.json()["document"]["id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        doc = (await api.get(f"/api/documents/{document_id}", headers=auth)).json()
        if doc["status"] in ("indexed", "failed"):
            return doc
        await asyncio.sleep(0.25)
    raise AssertionError(f"{name} still {doc['status']} after {timeout_s} s")


def nested_html(depth: int) -> bytes:
    body = b"<div><span><b>" * depth + b"the needle sentence" + b"</b></span></div>" * depth
    return b"<!DOCTYPE html><html><body>" + body + b"</body></html>"


CRAFTED = {
    # The upload that froze the backend for ~90 s: exponential backtracking in type sniffing.
    "redos-comments.html": b"<!---->" * 2000 + b"<x",
    "redos-markdown.md": b"x" + b"\n" * 8000 + b"[" * 8000,
    "whitespace-runs.txt": b"start" + (b" \t" * 1000 + b"\n") * 2000 + b"end",
    "nested-7mib.html": nested_html(7 * MIB // 34),
    "unclosed-tags.html": b"<html><body>" + b"<p><i><b><u>" * 200_000 + b"loose text",
    "nested.pdf": pdfmaker.deeply_nested_pdf(50_000),
    "bomb.pdf": pdfmaker.make_pdf_with_content_stream(
        zlib.compress(b"0 0 m " * (200 * MIB // 6), 9), flate=True
    ),
    "corrupt.pdf": pdfmaker.corrupt_pdf(),
}


@pytest.mark.parametrize("name", list(CRAFTED))
async def test_crafted_upload_keeps_the_backend_answering_and_the_dataflow_within_its_limit(stack, name):
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=60) as api:
        auth = await register(api, "hostile")
        outcome: dict = {}

        async def attack() -> None:
            outcome.update(await upload_and_settle(api, auth, name, CRAFTED[name]))

        await under_watch(stack, attack)
    print(f"  {name}: {outcome.get('status')} {outcome.get('error') or ''}")
    assert outcome["status"] in ("indexed", "failed", "refused"), outcome
    if outcome["status"] == "failed":
        assert outcome["error"], "a failed document says why"
    if outcome["status"] == "refused":
        assert outcome["http"] in (413, 415), outcome


async def test_a_search_flood_is_throttled_and_the_backend_stays_responsive(stack):
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=60) as api:
        auth = await register(api, "flood")
        statuses: list[int] = []

        async def attack() -> None:
            async def one(i: int) -> None:
                response = await api.get("/api/search", params={"q": f"needle {i}"}, headers=auth)
                statuses.append(response.status_code)

            await asyncio.gather(*(one(i) for i in range(200)))

        await under_watch(stack, attack)
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) <= 12 and statuses.count(429) >= 188, statuses


async def test_a_stream_flood_is_capped_per_user_and_the_backend_stays_responsive(stack):
    """200 reply streams opened at once by one user: each gets its reply or a 429
    `too_many_streams`, never an error or a hang, and no more than the cap are open at a time."""
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=120) as api:
        auth = await register(api, "streamflood")
        accepted = await send(api, auth, await new_conversation(api, auth), "Say hello.")
        outcomes: list[tuple[int, str]] = []

        async def attack() -> None:
            async def one() -> None:
                async with api.stream("GET", accepted["stream_url"], headers=auth) as response:
                    body = (await response.aread()).decode()
                if response.status_code == 429:
                    outcomes.append((429, response.json()["error"]["code"]))
                else:
                    outcomes.append((response.status_code, DONE if f"event: {DONE}" in body else body[-200:]))

            await asyncio.gather(*(one() for _ in range(200)))

        await under_watch(stack, attack)
    served, refused = outcomes.count((200, DONE)), outcomes.count((429, "too_many_streams"))
    assert set(outcomes) <= {(200, DONE), (429, "too_many_streams")}, set(outcomes)
    assert refused >= 100, (served, refused)
    print(f"  {served} streams served, {refused} refused")
