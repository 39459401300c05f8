"""Start-up that waits for its dependencies instead of crashing
(docs/decisions/0039-start-up-waits-for-stores.md).

A service's lifespan runs its start in a background task and yields at once, so `/health` answers
(liveness never fails while a store is still coming up) and `/ready` says `starting` with what it
waits for. Each step that needs a dependency goes through `Startup.retry`: retried with capped,
jittered exponential backoff, each failure logged. Until the start is done, every route that takes
the app context answers 503 `starting` with a Retry-After (`app_context.app_context`).

    async def start(app: FastAPI, startup: Startup) -> None:
        producer = await startup.retry("kafka producer", clients.started_kafka_producer, settings)
        startup.on_stop(producer.stop)
        ...
        set_app_context(app, ctx)

    app = FastAPI(lifespan=starting_in_background(start, settings.service_name))

On shutdown a pending start is cancelled, then what it had started is stopped in reverse order
(`alice_common.lifecycle`), whether the start finished, failed halfway or was cancelled.
A start that fails outside a retried step (a bug, a missing model file) is logged and turns
`/health` into 503 `failed`, so the kubelet restarts the pod as it would after a crash.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

from fastapi import FastAPI

from alice_common.lifecycle import Lifecycle, Stop
from alice_common.observability import register_check

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

STARTUP_CHECK = "startup"


class Startup:
    """The state of one service's start: which step it waits on, and the retry policy."""

    def __init__(self, service: str, *, first_delay_s: float = 0.25, max_delay_s: float = 5.0) -> None:
        self.service = service
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.done = False
        self.failed: str | None = None
        self.waiting_for = "nothing yet"
        self.last_error: str | None = None
        self.started_at = time.monotonic()
        self.lifecycle = Lifecycle()

    async def retry(
        self,
        what: str,
        attempt: Callable[P, Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`await attempt(*args, **kwargs)` until it succeeds. Every failure is a dependency not
        there yet: the start waits (backoff capped at `max_delay_s`, full jitter) and says so in
        `/ready` and the log. Cancellation (shutdown) is never swallowed."""
        self.waiting_for = what
        delay = self.first_delay_s
        failures = 0
        while True:
            try:
                result = await attempt(*args, **kwargs)
            except Exception as exc:
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                pause = random.uniform(delay / 2, delay)
                log.warning(
                    "start-up waits for %s (attempt %d failed: %s); retrying in %.1f s",
                    what,
                    failures,
                    self.last_error,
                    pause,
                    extra={"dependency": what, "attempt": failures},
                )
                await asyncio.sleep(pause)
                delay = min(delay * 2, self.max_delay_s)
                continue
            if failures:
                log.info("start-up: %s available after %d failed attempts", what, failures)
            self.last_error = None
            return result

    def on_stop(self, stop: Stop) -> None:
        """Run `stop()` at shutdown; stops run in reverse order of registration, each one even
        when an earlier one failed."""
        self.lifecycle.on_stop(stop)

    def report(self) -> str:
        if self.failed:
            return f"failed: {self.failed}"
        waited = time.monotonic() - self.started_at
        detail = f"; last error {self.last_error}" if self.last_error else ""
        return f"starting for {waited:.0f} s, waiting for {self.waiting_for}{detail}"

    async def stop_all(self) -> None:
        await self.lifecycle.aclose()


def startup_of(app: FastAPI) -> Startup | None:
    return getattr(app.state, "startup", None)


def starting_in_background(
    start: Callable[[FastAPI, Startup], Awaitable[None]],
    service: str,
    **backoff: Any,
) -> Callable[[FastAPI], Any]:
    """A FastAPI lifespan that runs `start(app, startup)` in the background (module docstring)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        startup = Startup(service, **backoff)
        app.state.startup = startup

        async def startup_check() -> None:
            if not startup.done:
                raise RuntimeError(startup.report())

        register_check(app, STARTUP_CHECK, startup_check)

        async def run() -> None:
            try:
                await start(app, startup)
            except Exception as exc:
                startup.failed = f"{type(exc).__name__}: {exc}"[:300]
                log.critical("start-up failed: %s", startup.failed, exc_info=True)
                return
            startup.done = True
            took = time.monotonic() - startup.started_at
            log.info("started in %.1f s", took, extra={"startup_s": round(took, 1)})

        task = asyncio.create_task(run(), name=f"{service}-startup")
        try:
            yield
        finally:
            if not task.done():
                log.info("shutdown while starting (waiting for %s): start cancelled", startup.waiting_for)
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await startup.stop_all()

    return lifespan


async def wait_started(app: FastAPI, timeout_s: float = 60.0) -> None:
    """For in-process tests: returns once the background start is done, raises if it failed."""
    deadline = time.monotonic() + timeout_s
    while True:
        startup = startup_of(app)
        if startup is not None and startup.done:
            return
        if startup is not None and startup.failed:
            raise RuntimeError(f"start-up failed: {startup.failed}")
        if time.monotonic() > deadline:
            raise TimeoutError(startup.report() if startup else "no start-up running")
        await asyncio.sleep(0.02)
