"""Extraction and chunking of one document in a child process with hard limits.

Parsing hostile files in the service itself once let a 7 MiB HTML upload grow the dataflow by
more than 2 GB (its Kubernetes limit is 1 GiB), so it was OOM-killed on every redelivery. Here a
document that needs too much memory, CPU or time kills only its child, and ends as a
`DocumentError` with a reason the user sees. One child at a time per process (`slots`): the
limits then add up to a known ceiling, and parsing is CPU-bound anyway.
"""

import asyncio
import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from alice_dataflow.extract import DocumentError, kind_of
from alice_dataflow.extract_worker import EXIT_OUT_OF_MEMORY, run

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# One thread everywhere in the child: its CPU limit is per process, and every thread's malloc
# arena would count against the address-space limit.
_CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "RAYON_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MALLOC_ARENA_MAX": "1",
}
# All the child inherits: what an interpreter needs to start. Never the service's secrets (internal
# token, store URLs with passwords, API keys): a parser exploit in the child learns nothing.
_INHERITED = ("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ")
WORKER_MODULE = "alice_dataflow.extract_worker"


def child_env() -> dict[str, str]:
    return {name: os.environ[name] for name in _INHERITED if name in os.environ} | _CHILD_ENV


@functools.cache
def no_network_prefix() -> tuple[str, ...]:
    """`unshare --user --net --` when this platform lets an unprivileged process create a network
    namespace (the child then has no network at all, not even loopback); empty where it does not
    (Docker's default seccomp profile, for one), and the child keeps the service's network."""
    unshare = shutil.which("unshare")
    if unshare is None:
        log.info("extraction child keeps the network: no unshare command")
        return ()
    prefix = (unshare, "--user", "--net", "--")
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        probe = None
    if probe is None or probe.returncode != 0:
        log.info("extraction child keeps the network: this platform refuses unprivileged namespaces")
        return ()
    return prefix


@dataclass(frozen=True)
class Limits:
    memory_budget_bytes: int
    cpu_s: int
    timeout_s: float


@dataclass(frozen=True)
class Job:
    content_type: str
    filename: str
    max_chars: int
    chunk_tokens: int
    chunk_overlap_tokens: int
    max_chunks: int


# Starting a child costs about half a second of CPU (an interpreter, the tokenizer), several
# seconds on a loaded machine: more than a note's whole indexing. Text or HTML this small cannot
# cost much memory or time to parse (no decompression, no recursion), so it is chunked in the
# service, and does not wait behind another document's extraction.
IN_PROCESS_BYTES = 64 * 1024


def _chunk_here(data: bytes, job: Job) -> list[str]:
    try:
        return run(job.__dict__, data)["chunks"]
    except RecursionError:
        raise DocumentError("the document is too deeply nested to read") from None


class Sandbox:
    def __init__(self, limits: Limits, concurrency: int = 1) -> None:
        self.limits = limits
        self.slots = asyncio.Semaphore(concurrency)

    async def chunks(
        self, data: bytes | Callable[[], Awaitable[bytes]], job: Job, size: int | None = None
    ) -> list[str]:
        """`data` may be a reader, called once a child is free: documents waiting for one then
        hold no file in memory. Text or HTML of at most `IN_PROCESS_BYTES` (`size` says so
        before the read) is chunked here instead, without waiting for the child."""
        if not isinstance(data, bytes) and size is not None and size <= IN_PROCESS_BYTES:
            data = await data()
        if isinstance(data, bytes) and len(data) <= IN_PROCESS_BYTES:
            if kind_of(job.content_type, job.filename, data) != "pdf":
                return await asyncio.to_thread(_chunk_here, data, job)
        async with self.slots:
            return await self._run(data if isinstance(data, bytes) else await data(), job)

    async def _run(self, data: bytes, job: Job) -> list[str]:
        lim = self.limits
        spec = {**job.__dict__, "memory_budget_bytes": lim.memory_budget_bytes, "cpu_s": lim.cpu_s}
        isolation = await asyncio.to_thread(no_network_prefix)  # probed once, off the loop
        proc = await asyncio.create_subprocess_exec(
            *isolation, sys.executable, "-m", WORKER_MODULE, json.dumps(spec),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=child_env(),
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(data), lim.timeout_s)
        except TimeoutError:
            raise DocumentError(
                f"processing the document took longer than {lim.timeout_s:g} s; split it into smaller files"
            ) from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode == 0:
            result = await asyncio.to_thread(json.loads, out)  # megabytes of chunks: off the loop
            if "error" in result:
                raise DocumentError(result["error"])
            return result["chunks"]
        raise DocumentError(self._reason(proc.returncode, err))

    def _reason(self, code: int, err: bytes) -> str:
        lim = self.limits
        too_big = (
            f"the document needs more than {lim.memory_budget_bytes // MIB} MiB of memory to process; "
            "split it into smaller files"
        )
        # Rust and C++ allocators abort when refused; SIGKILL is the kernel's OOM killer.
        if code in (EXIT_OUT_OF_MEMORY, -signal.SIGABRT, -signal.SIGKILL):
            return too_big
        if code == -signal.SIGXCPU:
            return f"processing the document used more than {lim.cpu_s} s of CPU; split it into smaller files"
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {code}"]
        log.warning("extraction child failed with %s: %s", code, err[-2000:].decode(errors="replace"))
        if "MemoryError" in tail[0]:
            return too_big
        return f"the document could not be processed ({tail[0][:200]})"
