"""`/health`, `/ready` and `/metrics` for every service, and RED metrics per route.

Readiness checks are registered at run time (clients only exist inside the lifespan):
`register_check(app, "redis", lambda: redis.ping())`. `/health` never calls a dependency.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Check = Callable[[], Awaitable[object]]

REQUESTS = Counter("http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to the response headers, per route",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

READY_TIMEOUT_S = 2.0


class MetricsMiddleware:
    """Pure ASGI middleware (safe for streaming responses) recording rate, errors and duration."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                route = _route_of(scope)
                LATENCY.labels(self.service, scope["method"], route).observe(time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            REQUESTS.labels(self.service, scope["method"], _route_of(scope), str(status["code"])).inc()


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def register_check(app: FastAPI, name: str, check: Check, *, required: bool = True) -> None:
    """A dependency `/ready` reports. Only a failing `required` one makes the pod unready: in a
    cluster an unready pod leaves the Service, so a dependency the pod can serve without (it
    degrades) must not take every replica out of rotation at once."""
    if not hasattr(app.state, "ready_checks"):
        app.state.ready_checks = {}
        app.state.optional_checks = set()
    app.state.ready_checks[name] = check
    if not required:
        app.state.optional_checks.add(name)


async def _run_check(check: Check) -> str | None:
    try:
        await asyncio.wait_for(check(), READY_TIMEOUT_S)
        return None
    except Exception as exc:  # a readiness probe reports every failure, whatever its type
        return f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__


def install_observability(app: FastAPI, service: str) -> None:
    app.add_middleware(MetricsMiddleware, service=service)

    @app.get("/health", include_in_schema=False)
    async def health(request: Request) -> JSONResponse:
        # Ok while the start waits for its dependencies (alice_common.startup): a restart would
        # not bring them sooner. Only a start that failed for good asks for one.
        startup = getattr(request.app.state, "startup", None)
        if startup is not None and startup.failed:
            return JSONResponse({"status": "failed", "service": service, "error": startup.failed}, 503)
        return JSONResponse({"status": "ok", "service": service})

    @app.get("/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        checks: dict[str, Check] = getattr(request.app.state, "ready_checks", {})
        names = list(checks)
        errors = await asyncio.gather(*(_run_check(checks[n]) for n in names))
        report = {n: (e or "ok") for n, e in zip(names, errors, strict=True)}
        optional = getattr(request.app.state, "optional_checks", set())
        ok = all(e is None for n, e in zip(names, errors, strict=True) if n not in optional)
        status = ("ready" if all(e is None for e in errors) else "degraded") if ok else "unavailable"
        if report.get("startup", "ok") != "ok":  # alice_common.startup
            status = "failed" if "failed: " in report["startup"] else "starting"
        return JSONResponse(
            {"status": status, "service": service, "checks": report},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
