"""How internal answers map onto public errors (httpx MockTransport: unit level)."""

import httpx
import pytest
from alice_backend.errors import ApiError
from alice_backend.internal_client import InternalClient


def _client(handler) -> InternalClient:
    client = InternalClient("orchestrator", "http://internal", "tok", 1.0)
    client.http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://internal",
                                    headers={"X-Internal-Token": "tok"})  # fmt: skip
    return client


async def test_scopes_every_call_and_sends_the_token():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["token"] = request.headers["X-Internal-Token"]
        seen["params"] = dict(request.url.params)
        return httpx.Response(200, json={"ok": True})

    assert await _client(handler).call(
        "GET", "/internal/x", user_id="u1", params={"limit": 5, "before": None}
    ) == {"ok": True}
    assert seen == {"token": "tok", "params": {"user_id": "u1", "limit": "5"}}


@pytest.mark.parametrize(
    ("response", "status", "code"),
    [
        (httpx.Response(404, json={"error": {"code": "gone", "message": "no"}}), 404, "gone"),
        (httpx.Response(422, json={"detail": "bad before"}), 422, "upstream_rejected"),
        (httpx.Response(500, text="boom"), 502, "upstream_error"),
        (httpx.Response(401, json={}), 502, "upstream_error"),
        (httpx.Response(200, text="not json"), 502, "upstream_error"),
    ],
)  # fmt: skip
async def test_upstream_answers_map_to_public_errors(response, status, code):
    with pytest.raises(ApiError) as error:
        await _client(lambda _: response).call("GET", "/internal/x", user_id="u")
    assert (error.value.status, error.value.code) == (status, code)


async def test_unreachable_and_slow_services_are_503():
    def refuse(_):
        raise httpx.ConnectError("refused")

    def slow(_):
        raise httpx.ReadTimeout("slow")

    for handler in (refuse, slow):
        with pytest.raises(ApiError) as error:
            await _client(handler).call("GET", "/internal/x")
        assert (error.value.status, error.value.code) == (503, "upstream_unavailable")


async def test_an_answer_that_is_not_the_wire_model_is_a_502_not_a_guess():
    """What the old tolerant reader accepted (`_id` for `id`, a bare list for a page) is refused."""
    from alice_common.wire import Conversation, ConversationPage

    answers = {
        "/internal/conversations/c1": {"_id": "c1", "title": None, "created_at": "2026-01-01T00:00:00Z",
                                       "updated_at": "2026-01-01T00:00:00Z"},
        "/internal/conversations": [],
    }  # fmt: skip
    client = _client(lambda request: httpx.Response(200, json=answers[request.url.path]))
    for model, path in (
        (Conversation, "/internal/conversations/c1"),
        (ConversationPage, "/internal/conversations"),
    ):
        with pytest.raises(ApiError) as raised:
            await client.get_as(model, "GET", path, user_id="u1")
        assert (raised.value.status, raised.value.code) == (502, "upstream_error")
    answers["/internal/conversations/c1"]["id"] = answers["/internal/conversations/c1"].pop("_id")
    conversation = await client.get_as(Conversation, "GET", "/internal/conversations/c1", user_id="u1")
    assert conversation.id == "c1"
