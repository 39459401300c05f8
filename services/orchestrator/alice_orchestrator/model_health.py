"""Is a served model's endpoint up? Each model's endpoint is probed with a short timeout and the
answer kept for a few seconds, so the model picker can show a model as unavailable and a reply
asked of a model that was chosen for its conversation fails at once with a clear error
(docs/decisions/0066-model-picker-and-presets.md)."""

import asyncio
import os
import time
from collections.abc import Callable, Mapping

import httpx
from alice_common.clients import http_limits

from alice_orchestrator.providers.registry import ModelRegistry, ServedModel, api_key_of
from alice_orchestrator.settings import Settings

PROBE_TIMEOUT_S = 2.0
# How long an answer is kept: a probe per model at most this often, whatever the traffic.
KEEP_S = 10.0


class ModelHealth:
    def __init__(
        self,
        settings: Settings,
        models: ModelRegistry,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.clock = clock
        self._probes = probe_targets(settings, models, environ)
        self._known: dict[str, tuple[float, bool]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._client = httpx.AsyncClient(timeout=PROBE_TIMEOUT_S, limits=http_limits(), transport=transport)

    async def available(self, served: ServedModel) -> bool:
        """True unless its endpoint failed the last probe; a model in this process is always up."""
        target = self._probes.get(served.name)
        if target is None:
            return True
        lock = self._locks.setdefault(served.name, asyncio.Lock())
        async with lock:  # one probe at a time per model: the others wait for its answer
            known = self._known.get(served.name)
            if known is not None and self.clock() - known[0] < KEEP_S:
                return known[1]
            up = await self._probe(*target)
            self._known[served.name] = (self.clock(), up)
            return up

    async def _probe(self, url: str, headers: dict[str, str]) -> bool:
        try:
            response = await self._client.get(url, headers=headers)
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    async def close(self) -> None:
        await self._client.aclose()


def probe_targets(
    settings: Settings, models: ModelRegistry, environ: Mapping[str, str]
) -> dict[str, tuple[str, dict[str, str]]]:
    """(URL, headers) to probe, by model name: an OpenAI-compatible endpoint's model list, the
    inference service's `/health`; none for a model run in this process (`local`, `fake`)."""
    targets: dict[str, tuple[str, dict[str, str]]] = {}
    default = models.default.name
    if settings.llm_provider == "inference":
        targets[default] = (settings.inference_url.rstrip("/") + "/health", {})
    elif settings.llm_provider == "openai":
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        targets[default] = (settings.llm_base_url.rstrip("/") + "/models", _bearer(key))
    for entry in settings.llm_models:
        targets[entry.name] = (entry.base_url + "/models", _bearer(api_key_of(entry, environ)))
    return targets


def _bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}
