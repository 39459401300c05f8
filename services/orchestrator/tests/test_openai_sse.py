import json
import socket

import httpx
import pytest
from alice_common.kafka.failures import Unavailable
from alice_orchestrator.providers.base import ModelUnavailable, ProviderError
from alice_orchestrator.providers.openai_compat import OpenAICompatProvider, sse_data


async def lines(*items: str):
    for item in items:
        yield item


async def collect(aiter) -> list:
    return [x async for x in aiter]


async def test_sse_data_joins_multiline_data_and_skips_comments_and_other_fields():
    events = await collect(
        sse_data(
            lines(": keep-alive", "event: x", "data: a", "data:b", "", "id: 3", "data: c", "", "data: tail")
        )
    )
    assert events == ["a\nb", "c", "tail"]


def chunk(content: str | None = None, usage: dict | None = None) -> str:
    body: dict = {"choices": [{"delta": {"content": content} if content is not None else {}}]}
    if usage is not None:
        body = {"choices": [], "usage": usage}
    return "data: " + json.dumps(body) + "\n\n"


def provider_answering(body: str, status: int = 200, seen: list | None = None) -> OpenAICompatProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=body.encode(), headers={"content-type": "text/event-stream"})

    return OpenAICompatProvider(
        "http://llm.test/v1", "some-model", api_key="k3y", transport=httpx.MockTransport(handler)
    )


async def test_streams_deltas_and_reads_usage_from_the_final_chunk():
    seen: list[httpx.Request] = []
    body = chunk("") + chunk("Hel") + chunk("lo") + chunk(usage={"prompt_tokens": 12, "completion_tokens": 2})
    provider = provider_answering(body + "data: [DONE]\n\n", seen=seen)
    generation = provider.stream([{"role": "user", "content": "hi"}], max_tokens=5, temperature=0.1)
    assert await collect(generation) == ["Hel", "lo"]
    assert (generation.prompt_tokens, generation.completion_tokens) == (12, 2)
    assert generation.ttft_ms is not None
    request = seen[0]
    assert request.url == "http://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer k3y"
    sent = json.loads(request.content)
    assert sent["stream"] is True and sent["model"] == "some-model" and sent["max_tokens"] == 5
    await provider.close()


async def test_usage_is_estimated_when_the_server_sends_none():
    provider = provider_answering(chunk("a") + chunk("b") + chunk("c") + "data: [DONE]\n\n")
    generation = provider.stream([{"role": "user", "content": "hello there"}], max_tokens=5, temperature=0)
    assert "".join(await collect(generation)) == "abc"
    assert generation.completion_tokens == 3
    assert generation.prompt_tokens > 0


async def test_http_errors_and_garbage_become_provider_errors():
    with pytest.raises(ProviderError, match="401"):
        await collect(
            provider_answering('{"error": "bad key"}', status=401).stream([], max_tokens=1, temperature=0)
        )
    with pytest.raises(ProviderError, match="non-JSON"):
        await collect(provider_answering("data: {oops\n\n").stream([], max_tokens=1, temperature=0))
    with pytest.raises(ProviderError, match="error"):
        await collect(
            provider_answering('data: {"error": {"message": "overloaded"}}\n\n').stream(
                [], max_tokens=1, temperature=0
            )
        )


async def test_unreachable_endpoint_is_a_provider_error():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    provider = OpenAICompatProvider("http://llm.test/v1", "m", transport=httpx.MockTransport(refuse))
    with pytest.raises(ProviderError, match="unreachable"):
        await collect(provider.stream([], max_tokens=1, temperature=0))


def closed_port() -> int:
    """A port on 127.0.0.1 that nobody listens on: bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_refused_connection_makes_the_model_unavailable_not_the_request_failed():
    provider = OpenAICompatProvider(f"http://127.0.0.1:{closed_port()}/v1", "m")
    with pytest.raises(ModelUnavailable, match="unreachable: ConnectError") as raised:
        await collect(provider.stream([], max_tokens=1, temperature=0))
    assert isinstance(raised.value, Unavailable) and isinstance(raised.value, ProviderError)
    await provider.close()


async def test_a_503_answer_is_unavailable_but_other_error_answers_are_not():
    with pytest.raises(ModelUnavailable, match="503"):
        await collect(provider_answering("Loading model", status=503).stream([], max_tokens=1, temperature=0))
    for status in (500, 502, 429, 400):
        with pytest.raises(ProviderError, match=str(status)) as raised:
            await collect(provider_answering("boom", status=status).stream([], max_tokens=1, temperature=0))
        assert not isinstance(raised.value, Unavailable)


async def test_a_stream_that_breaks_after_the_answer_is_not_unavailable():
    class BreaksMidStream(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield chunk("Hel").encode()
            raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=BreaksMidStream(), headers={"content-type": "text/event-stream"})

    provider = OpenAICompatProvider("http://llm.test/v1", "m", transport=httpx.MockTransport(handler))
    deltas = []
    with pytest.raises(ProviderError, match="ReadError") as raised:
        async for delta in provider.stream([], max_tokens=5, temperature=0):
            deltas.append(delta)
    assert deltas == ["Hel"] and not isinstance(raised.value, Unavailable)


def finish(reason: str) -> str:
    return "data: " + json.dumps({"choices": [{"delta": {}, "finish_reason": reason}]}) + "\n\n"


async def test_the_servers_finish_reason_is_kept():
    for reason in ("length", "stop"):
        provider = provider_answering(chunk("a") + finish(reason) + "data: [DONE]\n\n")
        generation = provider.stream([{"role": "user", "content": "hi"}], max_tokens=5, temperature=0)
        await collect(generation)
        assert generation.finish_reason == reason
        await provider.close()


CONTINUED = [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "1, 2, 3,"}]


async def test_a_continued_reply_echoed_back_by_the_server_is_taken_off_the_stream():
    # What llama-server streams for an assistant prefill: the prefill and the first token together.
    echoed = chunk("1, 2,") + chunk(" 3, 4") + chunk(",") + chunk(" 5") + finish("length")
    provider = provider_answering(echoed + "data: [DONE]\n\n")
    generation = provider.stream(CONTINUED, max_tokens=5, temperature=0)
    assert "".join(await collect(generation)) == " 4, 5"
    await provider.close()


async def test_a_server_that_does_not_echo_the_continued_reply_streams_as_is():
    for deltas, expected in (([" 4", ","], " 4,"), (["1, 2"], "1, 2")):
        provider = provider_answering("".join(chunk(d) for d in deltas) + "data: [DONE]\n\n")
        generation = provider.stream(CONTINUED, max_tokens=5, temperature=0)
        assert "".join(await collect(generation)) == expected
        await provider.close()
