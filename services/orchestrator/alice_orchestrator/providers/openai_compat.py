"""Any OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Streams with `stream: true` and parses the Server-Sent Events by hand: each `data:` line holds one
JSON chunk, `data: [DONE]` ends the stream. Usage comes from the final chunk when the server sends
it (`stream_options.include_usage`); otherwise it is estimated. A last message of the assistant's is
continued by servers that support it (llama-server's assistant prefill, which streams that text back
first: it is taken off); others answer it anew.
"""

import json
import time
from collections.abc import AsyncIterator

import httpx
from alice_common.clients import http_limits

from alice_orchestrator.providers.base import (
    ChatProvider,
    Generation,
    GenerationRequest,
    ModelUnavailable,
    ProviderError,
    estimate_tokens,
)

# The connection to the endpoint could not be made (refused, name not resolved, no answer to the
# connect, a base URL no client can use): the endpoint is unreachable, the request not at fault.
# A connection that breaks or times out after it was made is not among them: the endpoint took
# the request, and a request that crashes the server must keep its bounded attempts.
UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol)
# "Service Unavailable": what llama-server answers while it loads its model, and proxies while
# no backend is up.
UNAVAILABLE_STATUS = 503


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Yield the payload of each SSE event's `data:` field(s); multi-line data is joined by '\\n'."""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if line == "":
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


class EchoedPrefill:
    """Takes the continued text off the front of the stream when the server sends it back
    (llama-server does); passes everything through when it does not."""

    def __init__(self, prefill: str):
        self.prefill = prefill
        self.held = ""
        self.settled = not prefill

    def feed(self, delta: str) -> str:
        if self.settled:
            return delta
        self.held += delta
        if len(self.held) < len(self.prefill) and self.prefill.startswith(self.held):
            return ""
        self.settled = True
        held, self.held = self.held, ""
        return held.removeprefix(self.prefill)

    def rest(self) -> str:
        """What is still held once the stream ended: part of the prefill, or the model's text."""
        held, self.held = self.held, ""
        return "" if held == self.prefill else held


class OpenAICompatProvider(ChatProvider):
    native_tools = True

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.model = model
        headers = {"Accept": "text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            limits=http_limits(),
            transport=transport,
        )

    async def _deltas(
        self, generation: Generation, request: GenerationRequest, url: str = "/chat/completions"
    ):
        """`url`: below the base URL, or another server's full address (inference.py)."""
        messages = self._messages(request)
        echo = EchoedPrefill(
            messages[-1]["content"] if messages and messages[-1]["role"] == "assistant" else ""
        )
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            body["stop"] = request.stop
        if request.seed is not None:  # best effort: OpenAI-compatible servers treat it as a hint
            body["seed"] = request.seed
        body |= request.options
        body |= self._body_extra(request)
        calls: dict[int, dict] = {}
        started = time.perf_counter()
        usage = None
        completion_chunks = 0
        answered = False
        try:
            async with self._client.stream("POST", url, json=body) as response:
                answered = True
                if response.status_code >= 400:
                    detail = (await response.aread()).decode(errors="replace")[:300]
                    error = ModelUnavailable if response.status_code == UNAVAILABLE_STATUS else ProviderError
                    raise error(f"LLM endpoint answered {response.status_code}: {detail}")
                async for payload in sse_data(response.aiter_lines()):
                    if payload.strip() == "[DONE]":
                        break
                    try:
                        chunk = json.loads(payload)
                    except json.JSONDecodeError as exc:
                        raise ProviderError(f"LLM endpoint sent a non-JSON chunk: {payload[:100]}") from exc
                    if chunk.get("error"):
                        raise ProviderError(f"LLM endpoint error: {chunk['error']}")
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        generation.finish_reason = choice.get("finish_reason") or generation.finish_reason
                        _add_calls(calls, (choice.get("delta") or {}).get("tool_calls"))
                        logprobs = (choice.get("logprobs") or {}).get("content")
                        if logprobs:
                            generation.extra.setdefault("logprobs", []).extend(logprobs)
                        delta = echo.feed((choice.get("delta") or {}).get("content") or "")
                        if delta:
                            completion_chunks += 1
                            if generation.ttft_ms is None:
                                generation.ttft_ms = (time.perf_counter() - started) * 1000
                            yield delta
                rest = echo.rest()
                if rest:
                    completion_chunks += 1
                    yield rest
        except httpx.HTTPError as exc:
            if not answered and isinstance(exc, UNREACHABLE):
                raise ModelUnavailable(f"LLM endpoint unreachable: {type(exc).__name__}: {exc}") from exc
            raise ProviderError(f"LLM endpoint failed: {type(exc).__name__}: {exc}") from exc
        finally:
            if calls:
                generation.extra["tool_calls"] = [calls[index] for index in sorted(calls)]
            if usage:
                generation.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                generation.completion_tokens = int(usage.get("completion_tokens") or completion_chunks)
            else:
                generation.prompt_tokens = sum(estimate_tokens(m["content"]) + 4 for m in request.messages)
                generation.completion_tokens = completion_chunks

    def _messages(self, request: GenerationRequest) -> list[dict]:
        return request.messages

    def _body_extra(self, request: GenerationRequest) -> dict:
        """Fields beyond OpenAI's that a known server understands (see `inference.py`)."""
        return {}

    async def close(self) -> None:
        await self._client.aclose()


def _add_calls(calls: dict[int, dict], deltas: list[dict] | None) -> None:
    """OpenAI streams a call in pieces (its id and name first, then the arguments' text), each
    piece naming the call by `index`."""
    for piece in deltas or []:
        call = calls.setdefault(
            int(piece.get("index") or 0),
            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
        )
        call["id"] = piece.get("id") or call["id"]
        function = piece.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""
