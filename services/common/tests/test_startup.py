"""The background start (alice_common.startup): liveness while waiting, readiness that says what it
waits for, a clear 503 for routes meanwhile, capped backoff, and a clean shutdown mid-wait."""

import asyncio
import logging
from typing import Annotated

import httpx
import pytest
from alice_common.app_context import app_context, set_app_context
from alice_common.errors import install_error_handlers
from alice_common.observability import install_observability
from alice_common.startup import Startup, starting_in_background, wait_started
from fastapi import Depends, FastAPI


class Dependency:
    """Refuses connections until `up` is set; counts the attempts."""

    def __init__(self) -> None:
        self.up = False
        self.attempts = 0

    async def connect(self) -> str:
        self.attempts += 1
        if not self.up:
            raise ConnectionRefusedError("not yet")
        return "client"


def make_app(dependency: Dependency, stopped: list[str], start_extra=None) -> FastAPI:
    async def start(app: FastAPI, startup: Startup) -> None:
        client = await startup.retry("the store", dependency.connect)

        async def close() -> None:
            stopped.append(client)

        startup.on_stop(close)
        if start_extra is not None:
            await start_extra()
        set_app_context(app, {"client": client})

    app = FastAPI(lifespan=starting_in_background(start, "svc", first_delay_s=0.01, max_delay_s=0.05))
    install_error_handlers(app)
    install_observability(app, "svc")

    @app.get("/thing")
    async def thing(ctx: Annotated[dict, Depends(app_context)]) -> dict:
        return {"client": ctx["client"]}

    return app


async def test_waits_serving_health_then_becomes_ready_and_serves(caplog):
    dependency, stopped = Dependency(), []
    app = make_app(dependency, stopped)
    caplog.set_level(logging.WARNING, "alice_common.startup")
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            await asyncio.sleep(0.2)
            assert (await http.get("/health")).status_code == 200
            ready = await http.get("/ready")
            assert ready.status_code == 503 and ready.json()["status"] == "starting"
            assert "waiting for the store" in ready.json()["checks"]["startup"]
            assert "ConnectionRefusedError: not yet" in ready.json()["checks"]["startup"]
            refused = await http.get("/thing")
            assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
            assert refused.json()["error"]["code"] == "service_unavailable"

            dependency.up = True
            await wait_started(app, timeout_s=2)
            assert (await http.get("/ready")).json()["status"] == "ready"
            assert (await http.get("/thing")).json() == {"client": "client"}
    # Capped backoff (0.05 s): many attempts in 0.2 s, each logged.
    assert dependency.attempts >= 4
    assert sum("start-up waits for the store" in r.getMessage() for r in caplog.records) >= 3
    assert stopped == ["client"]


async def test_shutdown_while_waiting_cancels_the_start_and_stops_what_it_started():
    dependency, stopped = Dependency(), []
    dependency.up = True
    never = asyncio.Event()
    app = make_app(dependency, stopped, start_extra=never.wait)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.05)
        assert not app.state.startup.done
    assert stopped == ["client"]  # the client made before the wait was closed
    assert not app.state.startup.failed


async def test_a_start_that_fails_for_good_fails_liveness():
    async def broken() -> None:
        raise FileNotFoundError("no model file")

    dependency = Dependency()
    dependency.up = True
    app = make_app(dependency, [], start_extra=broken)
    async with app.router.lifespan_context(app):
        with pytest.raises(RuntimeError, match="no model file"):
            await wait_started(app, timeout_s=2)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            health = await http.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "failed"
            assert (await http.get("/ready")).json()["status"] == "failed"
