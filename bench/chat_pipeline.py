"""Chat pipeline benchmark (issue 2): simulated users over the public API.

Measures, in one run:
  * time to first token (TTFT) seen by a client: from sending `POST .../messages` to the first
    `token` event on the reply's SSE stream, with N users streaming at once;
  * pipeline overhead: that TTFT minus the provider's own TTFT for the same request, which the
    orchestrator measures around the model call and reports in `done.message.usage.ttft_ms`;
  * accepted messages per second at the backend (202 answers), with many senders at once;
  * CPU milliseconds per chat turn of each service process and of the infrastructure (from /proc),
    and relayed token events per CPU-second of the Alice services.

Two ways to load it: the burst (every user sends at the same moment, `--rounds` times: a stress
figure) and, with `--rate`, open-loop Poisson arrivals at that many messages per second for
`--duration` seconds, each on a user whose previous reply has finished (real users do not all
press Enter in the same millisecond). Long fake replies (`--max-tokens`) keep many streams open.

By default it starts its own orchestrator (the deterministic `fake` model, so the model's speed
does not hide the pipeline's) and backend against the native infrastructure
(`python -m devstack up --infra`), in a database and topic prefix of their own:

    source scripts/env.sh
    $UV run --frozen python bench/chat_pipeline.py --users 50 --rounds 10 --accept 5000
    $UV run --frozen python bench/chat_pipeline.py --users 80 --rate 10 --duration 30 \
        --max-tokens 1000 --rounds 0 --accept 0      # open loop, about 50 streams active

`--dataflow` starts a dataflow as well, which consumes each turn's `chat.completed` (analytics in
MongoDB), so its CPU per turn is reported too.

`--backend-url URL` measures an already running system instead (then the orchestrator's provider is
whatever it was started with; the overhead figure stays valid because the provider's own TTFT is
measured per request).
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
from alice_common.reply_stream import DONE, FAILED, TOKEN
from proc_cpu import CpuMeter, find_pids, infra_groups, machine_busy_ms

SERVICES = ("backend", "orchestrator", "dataflow", "kafkaflow")


@dataclass
class Sample:
    system_ttft_ms: float
    provider_ttft_ms: float
    accept_ms: float  # the POST's round trip: the backend's own share of the overhead
    token_events: int

    @property
    def overhead_ms(self) -> float:
        return self.system_ttft_ms - self.provider_ttft_ms


@dataclass
class User:
    auth: dict[str, str]
    conversation: str


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[rank]


# --- services ------------------------------------------------------------------------------------


def start_services(args: argparse.Namespace, stack: ExitStack) -> tuple[str, str, dict[str, list[int]]]:
    from devstack.config import Config
    from devstack.testing import ServiceProcess

    run = uuid.uuid4().hex[:8]
    secrets = Config().secrets()  # one token for every service here: the backend falls back to it
    base = dict(os.environ) | Config().service_env() | {
        "JWT_SECRET": secrets["JWT_SECRET"],
        "ALICE_INTERNAL_TOKEN": secrets["ALICE_INTERNAL_TOKEN"],
        "MONGODB_DATABASE": f"bench_chat_{run}",
        "KAFKA_TOPIC_PREFIX": f"bench-chat-{run}.",
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    orchestrator = ServiceProcess(
        "orchestrator",
        base
        | {
            "LLM_PROVIDER": "fake",
            "LLM_FAKE_TTFT_MS": str(args.fake_ttft_ms),
            "LLM_FAKE_TOKEN_INTERVAL_MS": str(args.fake_token_interval_ms),
            "LLM_MAX_TOKENS": str(args.max_tokens),
            "CHAT_CONCURRENCY": str(max(8, args.users)),
        },
        ready_timeout_s=120,
    )
    stack.callback(orchestrator.stop)
    orchestrator.start()
    backend = ServiceProcess(
        "backend",
        base
        | {
            "ORCHESTRATOR_URL": orchestrator.url,
            "REGISTER_RATE_PER_IP_CAPACITY": "100000",
            "REGISTER_RATE_PER_IP_PER_S": "100000",
            "MAX_REGISTRATIONS_PER_HOUR": "10000000",
            "LOGIN_RATE_PER_IP_CAPACITY": "100000",
            "LOGIN_RATE_PER_IP_PER_S": "100000",
            "SEND_RATE_CAPACITY": "1000000",
            "SEND_RATE_PER_S": "100000",
            "MAX_CONCURRENT_GENERATIONS": "1000000",
        },
    )
    stack.callback(backend.stop)
    backend.start()
    print(f"started orchestrator {orchestrator.url} (fake model) and backend {backend.url}", file=sys.stderr)
    pids = {"backend": [backend.proc.pid], "orchestrator": [orchestrator.proc.pid]}
    if args.dataflow:
        # Consumes every turn's `chat.completed` (analytics, into MongoDB), as in a full stack.
        dataflow = ServiceProcess("dataflow", base, ready_timeout_s=180)
        stack.callback(dataflow.stop)
        dataflow.start()
        pids["dataflow"] = [dataflow.proc.pid]
    return backend.url, orchestrator.url, pids


def running_services() -> dict[str, list[int]]:
    return {name: find_pids(f"alice_{name}") for name in SERVICES}


# --- client side ---------------------------------------------------------------------------------


async def make_user(client: httpx.AsyncClient, memory: bool) -> User:
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/auth/register", json={"email": email, "password": "bench-password"})
    response.raise_for_status()
    auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
    if not memory:
        patch = await client.patch("/api/me", headers=auth, json={"settings": {"memory_enabled": False}})
        patch.raise_for_status()
    conversation = await client.post("/api/conversations", headers=auth, json={"title": "bench"})
    conversation.raise_for_status()
    return User(auth, conversation.json()["id"])


async def read_sse_until_done(
    url: str, path: str, auth: str
) -> tuple[float | None, dict | None, str | None, int]:
    """GETs an SSE stream over a raw socket (chunked encoding); returns (first token time, done
    data, terminal event, token events). Cheap on the client's CPU, so 50 streams do not starve
    the services."""
    parsed = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {parsed.host}\r\nAuthorization: {auth}\r\n"
            f"Accept: text/event-stream\r\n\r\n".encode()
        )
        header = await reader.readuntil(b"\r\n\r\n")
        status_line = header.split(b"\r\n", 1)[0]
        if b" 200 " not in status_line:
            raise RuntimeError(f"stream: {status_line!r}")
        first_token = None
        pending = b""
        event = None
        tokens = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                return first_token, None, event, tokens
            pending += (await reader.readexactly(size + 2))[:-2]
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.startswith(b"event:"):
                    event = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    if event == TOKEN:
                        tokens += 1
                        first_token = first_token or time.perf_counter()
                    elif event in (DONE, FAILED):
                        return first_token, json.loads(line[5:]), event, tokens
    finally:
        writer.close()


async def one_exchange(url: str, connection: "RawConnection", user: User, prompt: str) -> Sample:
    body = json.dumps({"content": prompt, "use_knowledge": False}).encode()
    started = time.perf_counter()
    status, answer = await connection.post(
        f"/api/conversations/{user.conversation}/messages", user.auth["Authorization"], body, want_body=True
    )
    accepted = time.perf_counter()
    if status != 202:
        raise RuntimeError(f"send: {status} {answer[:200]!r}")
    stream_url = json.loads(answer)["stream_url"]
    first_token, done, event, tokens = await read_sse_until_done(url, stream_url, user.auth["Authorization"])
    if event != DONE or done is None:
        raise RuntimeError(f"stream ended with {event} {done}")
    provider_ttft = (done["message"].get("usage") or {}).get("ttft_ms")
    if first_token is None or provider_ttft is None:
        raise RuntimeError("no token or no provider TTFT in the reply")
    return Sample((first_token - started) * 1000, float(provider_ttft), (accepted - started) * 1000, tokens)


async def streaming_phase(url: str, users: list[User], rounds: int, results: Results) -> float:
    async def run_user(user: User) -> None:
        connection = RawConnection(url)
        for i in range(rounds):
            try:
                sample = await one_exchange(url, connection, user, f"Benchmark question number {i}?")
                results.samples.append(sample)
            except Exception as exc:  # a benchmark reports failures, it does not stop on them
                results.errors.append(f"{type(exc).__name__}: {exc}")
                await connection.close()
                connection = RawConnection(url)
        await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(run_user(u) for u in users))
    return time.perf_counter() - started


async def open_loop_phase(
    url: str, users: list[User], rate: float, duration_s: float, results: Results, seed: int
) -> dict:
    """Poisson arrivals at `rate` per second; each takes an idle user (one stream per user at a
    time, like a person waiting for the answer). An arrival with no idle user is counted, not sent."""
    rng = random.Random(seed)
    idle = list(users)
    active = 0
    active_samples: list[int] = []
    skipped = 0
    tasks: set[asyncio.Task] = set()

    async def exchange(user: User) -> None:
        nonlocal active
        connection = RawConnection(url)
        try:
            results.samples.append(await one_exchange(url, connection, user, "An open-loop question?"))
        except Exception as exc:  # reported, not raised
            results.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            await connection.close()
            active -= 1
            idle.append(user)

    started = time.perf_counter()
    next_at = started
    while True:
        next_at += rng.expovariate(rate)
        if next_at - started > duration_s:
            break
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        active_samples.append(active)
        if not idle:
            skipped += 1
            continue
        active += 1
        task = asyncio.create_task(exchange(idle.pop(rng.randrange(len(idle)))))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return {
        "rate_per_s": rate,
        "duration_s": duration_s,
        "arrivals": len(active_samples),
        "skipped_no_idle_user": skipped,
        "active_streams_mean": round(statistics.fmean(active_samples), 1) if active_samples else 0,
        "active_streams_max": max(active_samples, default=0),
    }


def summarize(samples: list[Sample]) -> dict:
    if not samples:
        return {}
    ttft = [s.system_ttft_ms for s in samples]
    provider = [s.provider_ttft_ms for s in samples]
    overhead = [s.overhead_ms for s in samples]
    return {
        "ttft_ms": {"p50": percentile(ttft, 50), "p99": percentile(ttft, 99), "mean": statistics.fmean(ttft)},
        "provider_ttft_ms": {"p50": percentile(provider, 50), "p99": percentile(provider, 99)},
        "overhead_ms": {"p50": percentile(overhead, 50), "p99": percentile(overhead, 99)},
    }


def cpu_report(spent_ms: dict[str, float], samples: list[Sample]) -> dict:
    turns = len(samples)
    if not turns:
        return {}
    services = {k: v for k, v in spent_ms.items() if k in SERVICES}
    infra = {k: v for k, v in spent_ms.items() if k not in SERVICES}
    services_ms = sum(services.values())
    tokens = sum(s.token_events for s in samples)
    return {
        "cpu_ms_per_turn": {k: round(v / turns, 2) for k, v in spent_ms.items()},
        "alice_services_cpu_ms_per_turn": round(services_ms / turns, 2),
        "infra_cpu_ms_per_turn": round(sum(infra.values()) / turns, 2),
        "token_events_relayed": tokens,
        "token_events_per_service_cpu_s": round(tokens / (services_ms / 1000), 1) if services_ms else None,
    }


class RawConnection:
    """Minimal keep-alive HTTP/1.1 client for the throughput phase: a general-purpose client costs
    more CPU per request than the backend's own handling, and both share this machine's cores."""

    def __init__(self, url: str):
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, auth: str, body: bytes, want_body: bool = False):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        assert self.reader is not None
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        answer = await self.reader.readexactly(length)
        return (status, answer) if want_body else status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def accept_phase(
    url: str, users: list[User], total: int, concurrency: int, errors: list[str]
) -> tuple[int, int, float]:
    counter = iter(range(total))
    accepted = rejected = 0

    async def sender() -> None:
        nonlocal accepted, rejected
        connection = RawConnection(url)
        try:
            for i in counter:
                user = users[i % len(users)]
                body = json.dumps({"content": f"throughput message {i}", "use_knowledge": False}).encode()
                try:
                    status = await connection.post(
                        f"/api/conversations/{user.conversation}/messages", user.auth["Authorization"], body
                    )
                except (OSError, asyncio.IncompleteReadError) as exc:
                    rejected += 1
                    errors.append(f"{type(exc).__name__}: {exc}")
                    await connection.close()
                    connection = RawConnection(url)
                    continue
                if status == 202:
                    accepted += 1
                else:
                    rejected += 1
                    errors.append(f"status {status}")
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return accepted, rejected, time.perf_counter() - started


SEND_ROUTE = "/api/conversations/{conversation_id}/messages"


async def histogram_buckets(
    client: httpx.AsyncClient, url: str, family_name: str, **labels: str
) -> dict[float, float]:
    """One histogram's cumulative buckets from a service's /metrics, for the samples with `labels`."""
    from prometheus_client.parser import text_string_to_metric_families

    text = (await client.get(f"{url}/metrics")).text
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != family_name:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and all(sample.labels.get(k) == v for k, v in labels.items()):
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


async def send_latency_buckets(client: httpx.AsyncClient) -> dict[float, float]:
    """The backend's own histogram of time-to-response-headers for the send route."""
    return await histogram_buckets(
        client, "", "http_request_duration_seconds", route=SEND_ROUTE, method="POST"
    )


# The orchestrator's time from a request being published (`published`) or reaching its handler
# (`handler`) to the first token written; both include the model's own TTFT.
FIRST_TOKEN = "alice_reply_first_token_seconds"


async def first_token_buckets(client: httpx.AsyncClient, orchestrator_url: str | None) -> dict:
    if not orchestrator_url:
        return {}
    return {
        stage: await histogram_buckets(client, orchestrator_url, FIRST_TOKEN, stage=stage)
        for stage in ("published", "handler")
    }


def first_token_report(before: dict, after: dict) -> dict:
    return {
        f"{stage}_{p}": bucket_percentile(before[stage], after[stage], int(p[1:]))
        for stage in after
        for p in ("p50", "p99")
    }


def bucket_percentile(before: dict[float, float], after: dict[float, float], p: float) -> str:
    """Upper bound of the histogram bucket holding the p-th percentile, as `<= X ms`."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return "n/a"
    target = counts[-1] * p / 100
    for bound, count in zip(bounds, counts, strict=True):
        if count >= target:
            return f"<= {bound * 1000:g} ms" if bound != float("inf") else "> 10 s"
    return "n/a"


async def bench(url: str, orchestrator_url: str | None, args: argparse.Namespace, meter: CpuMeter) -> dict:
    limits = httpx.Limits(
        max_connections=args.users + args.accept_concurrency + 10, max_keepalive_connections=200
    )
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        users = list(await asyncio.gather(*(make_user(client, args.memory) for _ in range(args.users))))
        warm = Results()
        await streaming_phase(url, users, 1, warm)  # connections, caches, JIT-free warm-up
        report: dict = {"users": args.users}
        if args.rounds:
            results = Results()
            server_before = await send_latency_buckets(client)
            first_before = await first_token_buckets(client, orchestrator_url)
            cpu_before = meter.sample()
            elapsed = await streaming_phase(url, users, args.rounds, results)
            spent = meter.since(cpu_before)
            server_after = await send_latency_buckets(client)
            first_after = await first_token_buckets(client, orchestrator_url)
            report["burst"] = {
                "concurrent_streams": args.users,
                "exchanges": len(results.samples),
                "errors": len(results.errors),
                "first_errors": results.errors[:3],
                "seconds": round(elapsed, 2),
                **summarize(results.samples),
                "backend_accept_ms": {
                    "p50": percentile([s.accept_ms for s in results.samples], 50),
                    "p99": percentile([s.accept_ms for s in results.samples], 99),
                    "server_side_p50": bucket_percentile(server_before, server_after, 50),
                    "server_side_p99": bucket_percentile(server_before, server_after, 99),
                },
                # Where the overhead accrues: published -> first token includes Kafka and the
                # consume loop, handler -> first token only the handler (both include the model).
                "orchestrator_first_token": first_token_report(first_before, first_after),
                **cpu_report(spent, results.samples),
            }
        if args.rate:
            results = Results()
            cpu_before = meter.sample()
            load = await open_loop_phase(url, users, args.rate, args.duration, results, args.seed)
            spent = meter.since(cpu_before)
            report["open_loop"] = load | {
                "exchanges": len(results.samples),
                "errors": len(results.errors),
                "first_errors": results.errors[:3],
                **summarize(results.samples),
                **cpu_report(spent, results.samples),
            }
        if args.accept:
            errors: list[str] = []
            cpu_before, client_before, machine_before = meter.sample(), time.process_time(), machine_busy_ms()
            accepted, rejected, seconds = await accept_phase(
                url, users, args.accept, args.accept_concurrency, errors
            )
            client_ms = (time.process_time() - client_before) * 1000
            spent = meter.since(cpu_before) | {"benchmark client": client_ms}
            machine_ms = machine_busy_ms() - machine_before
            report["accept"] = {
                "sent": args.accept,
                "accepted": accepted,
                "rejected": rejected,
                "seconds": round(seconds, 2),
                "accepted_per_s": round(accepted / seconds, 1),
                "concurrency": args.accept_concurrency,
                "first_errors": errors[:3],
                # The orchestrator consumes and answers the accepted messages meanwhile, so the
                # whole pipeline shares the cores; `cores_busy` near the core count means the
                # phase is bound by CPU, and the figures per message say whose.
                "cpu_ms_per_accepted": {k: round(v / max(accepted, 1), 3) for k, v in spent.items()},
                "cores_busy": round(machine_ms / 1000 / seconds, 2),
                "cores": os.cpu_count(),
            }
        return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend-url", help="measure a running backend instead of starting services")
    parser.add_argument("--users", type=int, default=50, help="simulated users = concurrent streams")
    parser.add_argument(
        "--rounds", type=int, default=10, help="messages each user sends in the streaming phase"
    )
    parser.add_argument(
        "--accept", type=int, default=5000, help="messages sent in the throughput phase (0: skip)"
    )
    parser.add_argument("--accept-concurrency", type=int, default=64)
    parser.add_argument(
        "--memory", action="store_true", help="leave memory retrieval on (Weaviate per message)"
    )
    parser.add_argument("--max-tokens", type=int, default=24, help="fake model: tokens per reply")
    parser.add_argument(
        "--fake-ttft-ms", type=float, default=50.0, help="fake model: its own time to first token"
    )
    parser.add_argument("--fake-token-interval-ms", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: Poisson arrivals per second")
    parser.add_argument("--duration", type=float, default=30.0, help="open loop: seconds of arrivals")
    parser.add_argument("--seed", type=int, default=1, help="open loop: arrival times are reproducible")
    parser.add_argument(
        "--dataflow", action="store_true", help="start a dataflow too (its CPU per turn is reported)"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.backend_url:
            url, orchestrator_url, services = args.backend_url, None, running_services()
        else:
            url, orchestrator_url, services = start_services(args, stack)
        meter = CpuMeter(services=services, infra=infra_groups())
        report = asyncio.run(bench(url, orchestrator_url, args, meter))
    print(json.dumps(report, indent=2))
    for phase in ("burst", "open_loop"):
        if "overhead_ms" in report.get(phase, {}):
            r = report[phase]
            o, t = r["overhead_ms"], r["ttft_ms"]
            print(
                f"\n{phase}: TTFT p50 {t['p50']:.1f} ms, p99 {t['p99']:.1f} ms | pipeline overhead "
                f"p50 {o['p50']:.1f} ms, p99 {o['p99']:.1f} ms | Alice services "
                f"{r.get('alice_services_cpu_ms_per_turn')} CPU ms per turn, infrastructure "
                f"{r.get('infra_cpu_ms_per_turn')} | {r.get('token_events_per_service_cpu_s')} token "
                "events per service CPU-second"
            )
    if "accept" in report:
        a = report["accept"]
        print(
            f"accepted {a['accepted_per_s']} messages/s at the backend | backend "
            f"{a['cpu_ms_per_accepted'].get('backend', 'n/a')} CPU ms per message | "
            f"{a['cores_busy']} of {a['cores']} cores busy"
        )


if __name__ == "__main__":
    main()
