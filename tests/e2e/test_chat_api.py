"""Chat acceptance through the public API (issue 2), against real processes and infrastructure:
backend + orchestrator (local SmolLM2 model) over Kafka, Redis and MongoDB.

Covers: two users and isolation, the SSE event sequence with `done` equal to the concatenated
deltas, exact `Last-Event-ID` resumption, stop within a second, regenerate.
"""

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from alice_common.reply_stream import DONE, RESET, STATUS, TOKEN

from tests.support.stack import UNTHROTTLED, Stack, isolation, new_conversation, register, send, sse_events

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[str]:
    """Orchestrator and backend on free ports; yields the backend URL."""
    orchestrator = dict(llm_provider="local", llm_max_tokens=80, llm_temperature=0.2, ready_timeout_s=120)
    with Stack(infra, isolation("chat"), orchestrator=orchestrator, backend=UNTHROTTLED) as up:
        yield up["backend"].url


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack, timeout=30) as client:
        yield client


def text_of(events: list[dict]) -> str:
    text = ""
    for event in events:
        if event["event"] == RESET:
            text = ""
        elif event["event"] == TOKEN:
            text += event["data"]["delta"]
    return text


async def wait_for_messages(api, auth, conversation: str, count: int, timeout_s: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await api.get(f"/api/conversations/{conversation}/messages", headers=auth)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        if len(items) >= count or time.monotonic() > deadline:
            return items
        await asyncio.sleep(0.2)


async def test_two_users_stream_and_isolation(api):
    alice, bob = await register(api), await register(api)
    conversation = await new_conversation(api, alice)
    accepted = await send(api, alice, conversation, "What is the capital of France? Answer in one sentence.")
    assert accepted["stream_url"] == f"/api/replies/{accepted['reply_id']}/stream"

    events = await sse_events(api, accepted["stream_url"], alice)
    kinds = [e["event"] for e in events]
    assert kinds[0] == STATUS and events[0]["data"] == {"state": "queued"}
    assert TOKEN in kinds and kinds[-1] == DONE, kinds
    assert all(e.get("id") for e in events)
    done = events[-1]["data"]["message"]
    assert done["content"] == text_of(events) and done["content"].strip()
    assert done["id"] == accepted["reply_id"]

    items = await wait_for_messages(api, alice, conversation, 2)
    assert [(m["role"], m["content"]) for m in items] == [
        ("user", accepted["message"]["content"]),
        ("assistant", done["content"]),
    ]

    # Bob sees none of it: 404 (never 403) and an empty list.
    for path in (
        f"/api/conversations/{conversation}",
        f"/api/conversations/{conversation}/messages",
        accepted["stream_url"],
    ):
        response = await api.get(path, headers=bob)
        assert response.status_code == 404 and response.json()["error"]["code"] in (
            "not_found",
            "conversation_not_found",
        )
    for path in ("stop", "regenerate"):
        assert (await api.post(f"/api/replies/{accepted['reply_id']}/{path}", headers=bob)).status_code == 404
    assert (
        await api.post(f"/api/conversations/{conversation}/messages", headers=bob, json={"content": "hi"})
    ).status_code == 404
    # Nor can he rename or delete it: the store finds it by id and then checks the owner.
    renamed = await api.patch(f"/api/conversations/{conversation}", headers=bob, json={"title": "bob's now"})
    assert renamed.status_code == 404, renamed.text
    assert (await api.delete(f"/api/conversations/{conversation}", headers=bob)).status_code == 404
    mine = await api.get(f"/api/conversations/{conversation}", headers=alice)
    assert mine.status_code == 200 and mine.json()["title"] != "bob's now"
    assert conversation not in [
        c["id"] for c in (await api.get("/api/conversations", headers=bob)).json()["items"]
    ]
    assert conversation in [
        c["id"] for c in (await api.get("/api/conversations", headers=alice)).json()["items"]
    ]


async def test_last_event_id_resumes_exactly_after_that_event(api):
    auth = await register(api)
    conversation = await new_conversation(api, auth)
    accepted = await send(api, auth, conversation, "Name three colours.")
    url = accepted["stream_url"]

    # Live: read a couple of events, drop the connection, resume from the last one seen.
    first = await sse_events(api, url, auth, stop_after=2)
    rest = await sse_events(api, url, auth, last_event_id=first[-1]["id"])
    full = await sse_events(api, url, auth)
    assert first + rest == full

    # After the fact: from every position, exactly the later events, no more, no fewer.
    for cut in range(len(full) - 1):
        resumed = await sse_events(api, url, auth, last_event_id=full[cut]["id"])
        assert resumed == full[cut + 1 :], cut


async def test_stop_ends_the_stream_within_a_second_with_partial_content(api):
    auth = await register(api)
    conversation = await new_conversation(api, auth)
    accepted = await send(
        api, auth, conversation, "Write a very long, detailed story about a dragon who learns to bake bread."
    )
    stopped_at: list[float] = []

    async def stop_on_first_token(event: dict) -> None:
        if event["event"] == TOKEN and not stopped_at:
            stop = await api.post(f"/api/replies/{accepted['reply_id']}/stop", headers=auth)
            assert stop.status_code == 202
            stopped_at.append(time.monotonic())

    events = await sse_events(api, accepted["stream_url"], auth, on_event=stop_on_first_token)
    ended_at = time.monotonic()
    assert stopped_at, [e["event"] for e in events]
    assert events[-1]["event"] == DONE, events[-1]
    assert ended_at - stopped_at[0] <= 1.0, ended_at - stopped_at[0]
    message = events[-1]["data"]["message"]
    assert message["status"] == "stopped"
    assert message["content"] == text_of(events) and message["content"]
    items = await wait_for_messages(api, auth, conversation, 2)
    assert items[-1]["role"] == "assistant" and items[-1]["status"] == "stopped"
    assert items[-1]["content"] == message["content"]


async def test_regenerate_streams_a_new_reply(api):
    auth = await register(api)
    conversation = await new_conversation(api, auth)
    accepted = await send(api, auth, conversation, "Give me one word that rhymes with cat.")
    first = await sse_events(api, accepted["stream_url"], auth)
    assert first[-1]["event"] == DONE

    response = await api.post(f"/api/replies/{accepted['reply_id']}/regenerate", headers=auth)
    assert response.status_code == 202, response.text
    again = response.json()
    assert again["reply_id"] != accepted["reply_id"] and again["regenerate_of"] == accepted["reply_id"]
    events = await sse_events(api, again["stream_url"], auth)
    assert events[0]["event"] == STATUS and events[-1]["event"] == DONE
    assert events[-1]["data"]["message"]["id"] == again["reply_id"]
    assert events[-1]["data"]["message"]["content"] == text_of(events)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = (await api.get(f"/api/conversations/{conversation}/messages", headers=auth)).json()["items"]
        if again["reply_id"] in [m["id"] for m in items]:
            break
        await asyncio.sleep(0.2)
    assert again["reply_id"] in [m["id"] for m in items]
    assert [m["role"] for m in items].count("user") == 1


async def test_continue_grows_a_reply_cut_at_its_length_limit(api):
    alice, bob = await register(api), await register(api)
    conversation = await new_conversation(api, alice)
    accepted = await send(
        api, alice, conversation, "Write a very long, detailed story about a dragon who learns to bake bread."
    )
    reply = accepted["reply_id"]
    cut = (await sse_events(api, accepted["stream_url"], alice))[-1]["data"]["message"]
    assert cut["finish_reason"] == "length" and cut["content"], cut

    assert (await api.post(f"/api/replies/{reply}/continue", headers=bob)).status_code == 404
    response = await api.post(f"/api/replies/{reply}/continue", headers=alice)
    assert response.status_code == 202, response.text
    more = response.json()
    assert more["continue_of"] == reply and more["reply_id"] != reply
    events = await sse_events(api, more["stream_url"], alice)
    assert events[0]["event"] == STATUS and events[-1]["event"] == DONE
    message = events[-1]["data"]["message"]
    added = text_of(events)
    assert message["id"] == reply and added.strip()
    assert message["content"] == cut["content"] + added
    # Written on from where it stopped, not the cut text again (llama-server sends it back first).
    assert not added.strip().startswith(cut["content"].strip()[:40]), added

    # One reply, grown: what the conversation shows after a reload.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = (await api.get(f"/api/conversations/{conversation}/messages", headers=alice)).json()["items"]
        if items[-1]["content"] == message["content"]:
            break
        await asyncio.sleep(0.2)
    assert [(m["role"], m["id"]) for m in items] == [
        ("user", accepted["message"]["id"]),
        ("assistant", reply),
    ]
    assert items[-1]["content"] == message["content"]
    assert items[-1]["finish_reason"] == message["finish_reason"]


async def test_only_a_reply_cut_at_its_length_limit_can_be_continued(api):
    auth = await register(api)
    conversation = await new_conversation(api, auth)
    accepted = await send(
        api, auth, conversation, "Write a very long, detailed story about a dragon who learns to bake bread."
    )

    async def stop_at_first_token(event: dict) -> None:
        if event["event"] == TOKEN:
            await api.post(f"/api/replies/{accepted['reply_id']}/stop", headers=auth)

    events = await sse_events(api, accepted["stream_url"], auth, on_event=stop_at_first_token)
    assert events[-1]["data"]["message"]["finish_reason"] is None
    response = await api.post(f"/api/replies/{accepted['reply_id']}/continue", headers=auth)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "not_continuable"


async def _answered(api, auth, conversation: str, content: str, **place) -> dict:
    response = await api.post(
        f"/api/conversations/{conversation}/messages", headers=auth, json={"content": content, **place}
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    events = await sse_events(api, accepted["stream_url"], auth)
    assert events[-1]["event"] == DONE, events[-1]
    return accepted


async def _branch(api, auth, conversation: str, choose: str | None = None) -> dict:
    url = f"/api/conversations/{conversation}/branch"
    if choose is None:
        response = await api.get(url, headers=auth)
    else:
        response = await api.put(url, headers=auth, json={"message_id": choose})
    assert response.status_code == 200, response.text
    return response.json()


def _ids(branch: dict) -> list[str]:
    return [m["id"] for m in branch["items"]]


async def test_edit_and_regenerate_make_versions_and_the_chosen_branch_is_kept(api):
    alice, bob = await register(api), await register(api)
    conversation = await new_conversation(api, alice)
    first = await _answered(api, alice, conversation, "Name a fruit.")
    second = await _answered(api, alice, conversation, "Name a colour.", parent_id=first["reply_id"])
    edited = await _answered(api, alice, conversation, "Name an animal.", edit_of=second["message"]["id"])

    shown = await _branch(api, alice, conversation)
    expected = [first["message"]["id"], first["reply_id"], edited["message"]["id"], edited["reply_id"]]
    assert _ids(shown) == expected and shown["leaf_id"] == edited["reply_id"]
    assert shown["items"][2]["siblings"] == [second["message"]["id"], edited["message"]["id"]]
    assert (
        shown["items"][2]["content"] == "Name an animal."
        and shown["items"][2]["parent_id"] == first["reply_id"]
    )

    # Back to the first version: its own reply follows, and the choice is kept.
    chosen = await _branch(api, alice, conversation, choose=second["message"]["id"])
    assert _ids(chosen) == [*expected[:2], second["message"]["id"], second["reply_id"]]
    assert _ids(await _branch(api, alice, conversation)) == _ids(chosen)

    regenerated = await api.post(f"/api/replies/{second['reply_id']}/regenerate", headers=alice)
    assert regenerated.status_code == 202, regenerated.text
    again = regenerated.json()
    assert (await sse_events(api, again["stream_url"], alice))[-1]["event"] == DONE
    deadline = time.monotonic() + 20
    while (shown := await _branch(api, alice, conversation))["leaf_id"] != again["reply_id"]:
        assert time.monotonic() < deadline, shown
        await asyncio.sleep(0.2)
    assert shown["items"][-1]["siblings"] == [second["reply_id"], again["reply_id"]]
    assert _ids(shown)[2] == second["message"]["id"]

    # A message sent without a parent follows the branch shown: the regenerated reply.
    after = await _answered(api, alice, conversation, "Thanks.")
    assert (await _branch(api, alice, conversation))["items"][-2]["parent_id"] == again["reply_id"]
    assert after["message"]["id"] in _ids(await _branch(api, alice, conversation))

    # Someone else can neither read the branch nor hang a message under it.
    for response in (
        await api.get(f"/api/conversations/{conversation}/branch", headers=bob),
        await api.put(
            f"/api/conversations/{conversation}/branch", headers=bob, json={"message_id": expected[0]}
        ),
    ):
        assert response.status_code == 404
    theirs = await new_conversation(api, bob)
    sneaky = await send_with(api, bob, theirs, {"content": "hi", "parent_id": expected[1]})
    events = await sse_events(api, sneaky["stream_url"], bob)
    assert events[-1]["event"] == "failed" and events[-1]["data"]["code"] == "message_not_found"
    assert (await _branch(api, bob, theirs))["items"] == []


async def send_with(api, auth, conversation: str, body: dict) -> dict:
    response = await api.post(f"/api/conversations/{conversation}/messages", headers=auth, json=body)
    assert response.status_code == 202, response.text
    return response.json()
