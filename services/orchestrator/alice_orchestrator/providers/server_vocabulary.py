"""The model's vocabulary, asked of the inference server (llama-server's `/tokenize`) instead of
loading the model in the orchestrator.

- `count(text)`: exact token counts for prompt budgeting. Called from the thread that builds the
  prompt, so it is a blocking request; counts are cached by the text's digest (a conversation's
  history is counted again on every turn). With no server known, or one that fails, the count is
  the conservative estimate of the other providers.
- `neutralized(text)`: the text with every control token's spelling broken (`local.neutralize`),
  since the server tokenizes the rendered prompt with control tokens honoured. A control token is
  found as what the server reads differently with and without special-token parsing: a token of
  the special reading whose spelling, read plainly, is not that one token. Failing to ask is
  `ModelUnavailable` (the server's fault), an answer that makes no sense `ProviderError` (the
  text's): a message is never sent unchecked.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import httpx

from alice_orchestrator.providers.base import ModelUnavailable, ProviderError, estimate_tokens
from alice_orchestrator.providers.local import neutralize

COUNT_ENTRIES = 4096
# Checked texts are kept whole: fewer of them, and none longer than a long message.
SAFE_ENTRIES = 1024
SAFE_MAX_CHARS = 16_384
TOKENIZE_TIMEOUT_S = 5.0


class _Cache:
    """A small LRU map from a text's digest to what was learnt about it; thread-safe."""

    def __init__(self, size: int):
        self._size = size
        self._items: OrderedDict[bytes, object] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(text.encode()).digest()

    def get(self, key: bytes):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: bytes, value: object) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class ServerVocabulary:
    def __init__(
        self,
        any_server: Callable[[], str | None],
        client: httpx.AsyncClient,
        transport: httpx.BaseTransport | None = None,
    ):
        self._any_server = any_server
        self._client = client
        self._blocking = httpx.Client(timeout=TOKENIZE_TIMEOUT_S, transport=transport)
        self._counts = _Cache(COUNT_ENTRIES)
        self._safe = _Cache(SAFE_ENTRIES)

    def count(self, text: str) -> int:
        if not text:
            return 0
        key = self._counts.key(text)
        known = self._counts.get(key)
        if known is not None:
            return known  # type: ignore[return-value]
        server = self._any_server()
        if server is None:
            return estimate_tokens(text)
        body = {"content": text, "add_special": False, "parse_special": False}
        try:
            response = self._blocking.post(f"{server}/tokenize", json=body)
            response.raise_for_status()
            count = len(response.json()["tokens"])
        except (httpx.HTTPError, ValueError, KeyError):
            return estimate_tokens(text)
        self._counts.put(key, count)
        return count

    async def _tokens(self, server: str, text: str, special: bool) -> list[dict]:
        body = {"content": text, "add_special": False, "parse_special": special, "with_pieces": True}
        response = await self._client.post(f"{server}/tokenize", json=body, timeout=TOKENIZE_TIMEOUT_S)
        response.raise_for_status()
        return response.json()["tokens"]

    async def neutralized(self, server: str, text: str) -> str:
        if not text:
            return text
        key = self._safe.key(text)
        known = self._safe.get(key)
        if known is not None:
            return known  # type: ignore[return-value]
        try:
            safe = await self._break_markers(server, text)
        except httpx.HTTPError as exc:  # the server's fault: the request waits, spending no attempt
            raise ModelUnavailable(f"inference server {server} could not tokenize: {exc}") from exc
        except (ValueError, KeyError) as exc:  # this text's: its attempts are spent, not the server's
            raise ProviderError(f"could not check a message for control tokens: {exc}") from exc
        if len(text) <= SAFE_MAX_CHARS:
            self._safe.put(key, safe)
        return safe

    async def _break_markers(self, server: str, text: str) -> str:
        for _ in range(3):  # a broken marker could, in theory, leave another one behind
            special = await self._tokens(server, text, special=True)
            plain_ids = {t["id"] for t in await self._tokens(server, text, special=False)}
            candidates = {
                t["piece"]
                for t in special
                if t["id"] not in plain_ids and isinstance(t["piece"], str) and len(t["piece"]) > 1
            }
            markers = []
            for piece in candidates:
                alone = await self._tokens(server, piece, special=False)
                if len(alone) != 1:  # read plainly it is several tokens: a control token's spelling
                    markers.append(piece)
            if not markers:
                return text
            text = neutralize(text, sorted(markers, key=len, reverse=True))
        raise ValueError("control token spellings remain after breaking them")

    def close(self) -> None:
        self._blocking.close()
