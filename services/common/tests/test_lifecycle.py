"""One lifecycle for every service (alice_common.lifecycle, alice_common.startup): whatever step of
the start fails, what the steps before it started is stopped, last first, and every stop runs."""

import contextlib
import logging

import pytest
from alice_common.lifecycle import Lifecycle
from alice_common.startup import Startup, starting_in_background, wait_started
from fastapi import FastAPI

STEPS = 5


def steps(stopped: list[str], failing: int):
    """`STEPS` start-up steps; step `failing` (1-based) raises instead of starting its client."""

    async def run(lifecycle: Lifecycle | Startup) -> None:
        for k in range(1, STEPS + 1):
            if k == failing:
                raise RuntimeError(f"step {k} failed")

            async def stop(k: int = k) -> None:
                stopped.append(f"client {k}")

            lifecycle.on_stop(stop)

    return run


@pytest.mark.parametrize("failing", range(1, STEPS + 1))
async def test_a_lifecycle_failing_at_step_k_stops_the_k_minus_1_before_it_in_reverse(failing):
    stopped: list[str] = []
    with pytest.raises(RuntimeError, match=f"step {failing} failed"):
        async with Lifecycle() as lifecycle:
            await steps(stopped, failing)(lifecycle)
    assert stopped == [f"client {k}" for k in range(failing - 1, 0, -1)]


@pytest.mark.parametrize("failing", range(1, STEPS + 1))
async def test_a_service_start_failing_at_step_k_stops_the_k_minus_1_before_it_at_shutdown(failing):
    stopped: list[str] = []
    run = steps(stopped, failing)

    async def start(app: FastAPI, startup: Startup) -> None:
        await run(startup)

    app = FastAPI(lifespan=starting_in_background(start, "svc"))
    async with app.router.lifespan_context(app):
        with pytest.raises(RuntimeError, match=f"step {failing} failed"):
            await wait_started(app, timeout_s=2)
        assert stopped == []  # the pod is restarted for a failed start: it stops then, as always
    assert stopped == [f"client {k}" for k in range(failing - 1, 0, -1)]


async def test_every_stop_runs_even_when_one_fails(caplog):
    stopped: list[str] = []
    lifecycle = Lifecycle()

    async def first() -> None:
        stopped.append("first")

    async def broken() -> None:
        raise ConnectionResetError("the broker went first")

    async def last() -> None:
        stopped.append("last")

    for stop in (first, broken, last):
        lifecycle.on_stop(stop)
    with caplog.at_level(logging.ERROR, "alice_common.lifecycle"):
        await lifecycle.aclose()
    assert stopped == ["last", "first"]
    assert "broken" in caplog.text and "the broker went first" in caplog.text
    await lifecycle.aclose()
    assert stopped == ["last", "first"]  # closing again stops nothing twice


async def test_context_managers_entered_are_exited_in_the_same_order_as_stops():
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def client(name: str):
        events.append(f"open {name}")
        yield name
        events.append(f"close {name}")

    async def stop_b() -> None:
        events.append("stop b")

    async with Lifecycle() as lifecycle:
        assert await lifecycle.enter(client("a")) == "a"
        lifecycle.on_stop(stop_b)
        await lifecycle.enter(client("c"))
    assert events == ["open a", "open c", "close c", "stop b", "close a"]
