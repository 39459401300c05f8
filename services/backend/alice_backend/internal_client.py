"""Calls to the other services' internal HTTP APIs (orchestrator, dataflow, kafkaflow).

Every call carries `X-Internal-Token`; user-scoped calls carry `user_id`. Upstream answers map
onto the public error shape: their 4xx pass through (404 stays 404), an unreachable or
timed-out service becomes 503, an upstream 5xx becomes 502, and so does an answer that is not
the wire model (`alice_common.wire`) the route expects (`get_as`).
"""

import logging
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from alice_common.clients import http_limits
from pydantic import BaseModel, ValidationError

from alice_backend.errors import ApiError

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def seg(value: str) -> str:
    """One URL path segment, safely encoded."""
    return quote(value, safe="")


class InternalClient:
    def __init__(self, name: str, base_url: str, token: str, timeout_s: float):
        self.name = name
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"X-Internal-Token": token},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
            limits=http_limits(max_connections=200, max_keepalive_connections=50),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get_as(self, model: type[M], method: str, path: str, **options: Any) -> M:
        """`call`, with the answer read as the shared wire model the service declares for it."""
        body = await self.call(method, path, **options)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            log.error("%s answered %s %s with an unexpected shape: %s", self.name, method, path, exc)
            raise UnexpectedAnswer(self.name) from exc

    async def call(
        self,
        method: str,
        path: str,
        *,
        user_id: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if user_id is not None:
            query["user_id"] = user_id
        try:
            response = await self.http.request(method, path, params=query, json=json)
        except httpx.TimeoutException as exc:
            log.warning("%s timed out on %s %s", self.name, method, path)
            raise ApiError(503, "upstream_unavailable", f"{self.name} did not answer in time") from exc
        except httpx.TransportError as exc:
            log.warning("%s unreachable on %s %s: %s", self.name, method, path, exc)
            raise ApiError(503, "upstream_unavailable", f"{self.name} is unavailable") from exc
        if response.status_code >= 500:
            log.warning("%s answered %s on %s %s", self.name, response.status_code, method, path)
            raise ApiError(502, "upstream_error", f"{self.name} failed to answer")
        if response.status_code >= 400:
            raise _upstream_client_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(502, "upstream_error", f"{self.name} sent an unreadable answer") from exc


def _upstream_client_error(response: httpx.Response) -> ApiError:
    status = response.status_code
    code, message = ("not_found", "not found") if status == 404 else ("upstream_rejected", "request rejected")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = str(err.get("code") or code)
            message = str(err.get("message") or message)
        elif isinstance(body.get("detail"), str):
            message = body["detail"]
    if status == 401:
        # The caller is authenticated; a 401 here means our internal token is wrong.
        log.error("internal token rejected by upstream")
        return ApiError(502, "upstream_error", "internal authentication failed")
    return ApiError(status, code, message)


class UnexpectedAnswer(ApiError):
    def __init__(self, service: str):
        super().__init__(502, "upstream_error", f"{service} sent an unexpected answer")
