"""The internal services answer only requests addressed to one of their own names (the Host
header): a web page that rebinds its DNS name to 127.0.0.1 cannot reach an internal API from a
browser. Probes and scrapes (`/health`, `/ready`, `/metrics`) are exempt: the kubelet and
Prometheus address a pod by its IP."""

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

PROBE_PATHS = frozenset({"/health", "/ready", "/metrics"})


def host_name(host: str) -> str:
    """`name:port` -> `name`; `[::1]:8001` -> `[::1]`."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


class AllowedHostsMiddleware:
    def __init__(self, app: ASGIApp, allowed_hosts: str) -> None:
        self.app = app
        self.allowed = frozenset(h.strip().lower() for h in allowed_hosts.split(",") if h.strip())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        name = host_name(Headers(scope=scope).get("host", "")).lower()
        if name in self.allowed:
            await self.app(scope, receive, send)
            return
        message = "this service does not answer for that host name"
        body = {"error": {"code": "invalid_host", "message": message}}
        await JSONResponse(body, status_code=400)(scope, receive, send)
