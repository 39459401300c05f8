"""The inference service: llama.cpp's `llama-server` serving the bundled model to every orchestrator
replica, several generations decoded together (parallel slots, continuous batching).

It speaks the OpenAI-compatible API, so this is `OpenAICompatProvider` plus what the in-process
provider (`local.py`) did beyond plain generation:
- the same sampling: llama.cpp's repeat penalty, and for a seeded request (a retry after a crash)
  no reuse of a cached prompt prefix, so the same request generates the same text;
- exact token counts for prompt budgeting, and every control token's spelling broken inside message
  text (nobody may open a `system` turn by typing it), both asked of the server's own tokenizer
  (`server_vocabulary.py`): the orchestrator loads no model;
- a line over the servers' slots with each waiting reply's place (`on_queue`): a reply waits only
  when every slot is busy, and chores (titles) go after replies (`InstanceQueue`).

Several servers: every address INFERENCE_URL's host name resolves to is one server (in k8s a
headless Service answers with each ready pod), looked up again every few seconds. Each server's
slots join the line when its `/props` answers and leave when its address does, or when it cannot be
reached; a reply holding a slot of a server that went away keeps it until it ends. Each request
goes to the server whose slot it holds: addressing pods directly is what spreads replies over new
replicas (a Service's kept-alive connections would stay with the old ones).
A stop closes the HTTP stream; the server cancels the slot's task when its client goes away. A
server that dies mid-reply fails the attempt; the retry resets the reply stream and starts over.
One that cannot be reached at all (restarting, refusing connections, 503 while loading the model)
raises `ModelUnavailable` (openai_compat.py): the request waits, spending no attempt.
"""

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from alice_orchestrator.metrics import INFERENCE_SLOTS, INFERENCE_SLOTS_BUSY, INFERENCE_WAITING
from alice_orchestrator.providers.base import Generation, GenerationRequest, ModelUnavailable
from alice_orchestrator.providers.instance_queue import InstanceQueue
from alice_orchestrator.providers.local import REPEAT_PENALTY
from alice_orchestrator.providers.openai_compat import OpenAICompatProvider
from alice_orchestrator.providers.server_vocabulary import ServerVocabulary

DISCOVERY_INTERVAL_S = 5.0
PROPS_TIMEOUT_S = 3.0
log = logging.getLogger(__name__)
Resolve = Callable[[str, int], Awaitable[list[str]]]


async def resolve_addresses(host: str, port: int) -> list[str]:
    """Every IPv4 address of `host` (IPv6 when it has none); one for a literal or a loopback name."""
    with contextlib.suppress(ValueError):
        return [str(ipaddress.ip_address(host))]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    v4 = sorted({info[4][0] for info in infos if info[0] == socket.AF_INET})
    addresses = v4 or sorted({info[4][0] for info in infos if info[0] == socket.AF_INET6})
    if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses):
        return addresses[:1]  # `localhost`: one machine, whatever its names
    return addresses


class Server:
    def __init__(self, url: str, slots: int):
        self.url = url
        self.slots = [Slot(self) for _ in range(slots)]


class Slot:
    __slots__ = ("server",)

    def __init__(self, server: Server):
        self.server = server


class InferenceProvider(OpenAICompatProvider):
    queues_requests = True
    # The bundled model's template has no tool format: chat/structured.py's JSON format instead.
    native_tools = False

    def __init__(
        self,
        server_url: str,
        model: str,
        timeout_s: float = 120.0,
        ready_timeout_s: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
        resolve: Resolve = resolve_addresses,
        blocking_transport: httpx.BaseTransport | None = None,
    ):
        self.server_url = server_url.rstrip("/")
        super().__init__(f"{self.server_url}/v1", model, None, timeout_s, transport)
        parts = urlsplit(self.server_url)
        self._scheme, self._host, self._port = parts.scheme, parts.hostname or "", parts.port or 80
        self._resolve = resolve
        self._ready_timeout_s = ready_timeout_s
        self._servers: dict[str, Server] = {}
        # Asked from the thread that builds prompts: a copy, made at once, of the changing dict.
        self._vocabulary = ServerVocabulary(
            lambda: next(iter(tuple(self._servers)), None), self._client, blocking_transport
        )
        self._line: InstanceQueue[Slot] = InstanceQueue([])
        self._discovering: asyncio.Lock | None = None
        self._refresher: asyncio.Task | None = None
        INFERENCE_SLOTS.set_function(lambda: self._line.size)
        INFERENCE_SLOTS_BUSY.set_function(lambda: self._line.busy)
        INFERENCE_WAITING.set_function(lambda: self._line.waiting)

    @property
    def slots(self) -> int:
        return self._line.size

    def count_tokens(self, text: str) -> int:
        return self._vocabulary.count(text)

    async def _neutralized(self, server: str, request: GenerationRequest) -> GenerationRequest:
        messages = [
            m | {"content": await self._vocabulary.neutralized(server, m["content"])}
            for m in request.messages
        ]
        return dataclasses.replace(request, messages=messages)

    def _body_extra(self, request: GenerationRequest) -> dict:
        extra: dict = {"repeat_penalty": REPEAT_PENALTY}
        if request.seed is not None:
            extra["cache_prompt"] = False
        return extra

    def _url_of(self, address: str) -> str:
        host = f"[{address}]" if ":" in address else address
        return f"{self._scheme}://{host}:{self._port}"

    async def _slots_of(self, url: str) -> int | None:
        """The server's slot count from its /props; None while it cannot serve (down, loading)."""
        try:
            response = await self._client.get(f"{url}/props", timeout=PROPS_TIMEOUT_S)
            response.raise_for_status()
            return max(1, int(response.json().get("total_slots") or 1))
        except (httpx.HTTPError, ValueError):
            return None

    async def discover(self) -> None:
        """Match the line to the servers the host name resolves to now."""
        if self._discovering is None:
            self._discovering = asyncio.Lock()
        async with self._discovering:
            urls = {self._url_of(a) for a in await self._resolve(self._host, self._port)}
            for url in set(self._servers) - urls:
                self._forget(self._servers[url])
            for url in urls - set(self._servers):
                slots = await self._slots_of(url)
                if slots is not None:
                    self._servers[url] = Server(url, slots)
                    self._line.add(self._servers[url].slots)

    def _forget(self, server: Server) -> None:
        if self._servers.get(server.url) is server:
            del self._servers[server.url]
            self._line.remove(server.slots)
            if not self._servers:
                # Nobody left to wait for: the waiting requests are retried like any request that
                # finds the model unavailable (bounded by CHAT_UNAVAILABLE_GIVE_UP_S).
                self._line.fail_waiting(ModelUnavailable(f"no inference server at {self.server_url}"))

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(DISCOVERY_INTERVAL_S)
            try:
                await self.discover()
            except Exception:  # the next look-up tries again; the line keeps what it has
                log.exception("inference server look-up failed")

    async def _deltas(self, generation: Generation, request: GenerationRequest):
        if not self._servers:
            await self.discover()
            if not self._servers:
                raise ModelUnavailable(f"no inference server at {self.server_url} is ready")
        slot = await self._line.acquire(request.on_queue, chore=request.chore)
        try:
            if request.on_queue is not None:
                await request.on_queue(0)
            safe = await self._neutralized(slot.server.url, request)
            url = f"{slot.server.url}/v1/chat/completions"
            async for delta in super()._deltas(generation, safe, url=url):
                yield delta
        except ModelUnavailable:
            self._forget(slot.server)  # found again by the next look-up once it serves
            raise
        finally:
            self._line.release(slot)

    async def warm_up(self) -> None:
        """Wait for a server (it may still be loading the model) and run one tiny generation before
        the service reports ready; then keep looking for servers coming and going."""
        deadline = time.monotonic() + self._ready_timeout_s
        while True:
            await self.discover()
            if self._servers:
                break
            if time.monotonic() > deadline:
                raise ModelUnavailable(f"inference service at {self.server_url} not ready")
            await asyncio.sleep(0.5)
        generation = self.stream([{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0)
        async for _delta in generation:
            pass
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="inference-discovery")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        self._vocabulary.close()
        await super().close()
