"""Export and import of conversations through the public API (issue 27), against real processes
and infrastructure: backend + orchestrator (local SmolLM2 model) over Kafka, Redis and MongoDB.

Covers: one conversation and all of them as JSON and Markdown downloads, with a real reply, its
model and its rating; an import that gives the same conversations back under new ids; another
user's 404s; malformed, oversized and partly invalid files refused with nothing stored.
"""

import json
from collections.abc import Iterator

import httpx
import pytest
from alice_common.reply_stream import DONE

from tests.support.stack import UNTHROTTLED, Stack, isolation, new_conversation, register, send, sse_events

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

MAX_IMPORT_BYTES = 64 * 1024
CAPS = {"max_import_bytes": MAX_IMPORT_BYTES, "max_import_conversations": 5, "max_import_messages": 20}


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[Stack]:
    orchestrator = dict(llm_provider="local", llm_max_tokens=24, llm_temperature=0.2, ready_timeout_s=120)
    with Stack(infra, isolation("export"), orchestrator=orchestrator, backend=UNTHROTTLED | CAPS) as up:
        yield up


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=60) as client:
        yield client


async def exported(api, auth, path: str, format: str = "json") -> httpx.Response:
    response = await api.get(path, headers=auth, params={"format": format})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith('attachment; filename="alice-conversation')
    return response


def without_ids(archive: dict) -> list[dict]:
    """The archive without ids: a message's `parent_id` becomes the position of its parent."""
    conversations = []
    for conversation in archive["conversations"]:
        position = {m["id"]: i for i, m in enumerate(conversation["messages"])}
        messages = [
            {k: v for k, v in m.items() if k not in ("id", "parent_id")}
            | {"follows": position.get(m.get("parent_id"))}
            for m in conversation["messages"]
        ]
        conversations.append({k: v for k, v in conversation.items() if k != "id"} | {"messages": messages})
    return conversations


async def everything(api, auth) -> list[str]:
    """The ids of all the caller's conversations, archived ones too."""
    ids = []
    for archived in ("false", "true"):
        page = await api.get("/api/conversations", headers=auth, params={"archived": archived, "limit": 200})
        ids += [c["id"] for c in page.json()["items"]]
    return ids


async def test_export_one_and_all_then_import_gives_the_same_conversations_back(api):
    ann, bob = await register(api), await register(api)
    chat = await new_conversation(api, ann)
    accepted = await send(api, ann, chat, "Name one colour of the rainbow.")
    assert (await sse_events(api, accepted["stream_url"], ann))[-1]["event"] == DONE
    rating = {"rating": "down", "comment": "too short"}
    feedback = f"/api/conversations/{chat}/messages/{accepted['reply_id']}/feedback"
    assert (await api.put(feedback, headers=ann, json=rating)).status_code == 200
    assert (
        await api.patch(f"/api/conversations/{chat}", headers=ann, json={"pinned": True})
    ).status_code == 200
    quiet = await new_conversation(api, ann)
    patched = await api.patch(
        f"/api/conversations/{quiet}",
        headers=ann,
        json={
            "title": "Later",
            "archived": True,
            "settings": {"system_prompt": "Be brief.", "temperature": 0.3},
        },
    )
    assert patched.status_code == 200, patched.text

    one = (await exported(api, ann, f"/api/conversations/{chat}/export")).json()
    assert (one["format"], one["version"], len(one["conversations"])) == ("alice.conversations", 1, 1)
    conversation = one["conversations"][0]
    assert (conversation["id"], conversation["pinned"], conversation["archived"]) == (chat, True, False)
    question, reply = conversation["messages"]
    assert (question["role"], question["content"]) == ("user", "Name one colour of the rainbow.")
    assert (reply["role"], reply["id"], reply["status"]) == ("assistant", accepted["reply_id"], "completed")
    assert reply["model"] and reply["content"]
    assert (reply["feedback"]["rating"], reply["feedback"]["comment"]) == ("down", "too short")

    markdown = (await exported(api, ann, f"/api/conversations/{chat}/export", "markdown")).text
    assert "## You · " in markdown and f"## Alice ({reply['model']}) · " in markdown
    assert reply["content"].strip() in markdown and "> Feedback: 👎 too short" in markdown

    every = (await exported(api, ann, "/api/conversations/export")).json()
    assert [c["id"] for c in every["conversations"]] == [chat, quiet], "oldest first, archived too"
    assert every["conversations"][1]["settings"] == {"system_prompt": "Be brief.", "temperature": 0.3}
    every_md = (await exported(api, ann, "/api/conversations/export", "markdown")).text
    assert every_md.startswith("# Alice conversations\n") and "\n## Later\n" in every_md

    for path in (f"/api/conversations/{chat}/export", f"/api/conversations/{quiet}/export"):
        stolen = await api.get(path, headers=bob)
        assert (stolen.status_code, stolen.json()["error"]["code"]) == (404, "conversation_not_found")
    assert (await exported(api, bob, "/api/conversations/export")).json()["conversations"] == []

    imported = await api.post("/api/conversations/import", headers=bob, json=every)
    assert imported.status_code == 201, imported.text
    copies = [c["id"] for c in imported.json()["conversations"]]
    assert not set(copies) & {chat, quiet}, "new ids"
    assert sorted(await everything(api, bob)) == sorted(copies)
    again = (await exported(api, bob, "/api/conversations/export")).json()
    assert [c["id"] for c in again["conversations"]] == copies
    assert without_ids(again) == without_ids(every), "the same conversations, exactly"
    assert not {m["id"] for c in again["conversations"] for m in c["messages"]} & {
        question["id"],
        reply["id"],
    }
    assert sorted(await everything(api, ann)) == sorted([chat, quiet]), "Ann's are untouched"
    stolen = await api.get(f"/api/conversations/{copies[0]}/export", headers=ann)
    assert stolen.status_code == 404, "the copies are Bob's alone"


def archive(*conversations: dict) -> dict:
    return {"format": "alice.conversations", "version": 1, "conversations": list(conversations)}


def conversation(*contents: str, title: str = "t") -> dict:
    when = "2026-01-01T00:00:00.000Z"
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": c, "created_at": when}
        for i, c in enumerate(contents)
    ]
    return {"title": title, "created_at": when, "updated_at": when, "messages": messages}


async def test_bad_files_are_refused_whole_and_store_nothing(api):
    carl = await register(api)
    fine = conversation("hello", "hi")
    partly_invalid = conversation("a", "b")
    partly_invalid["messages"][1]["role"] = "system"
    refusals = [
        ("{not json", 400, "malformed_json"),
        (json.dumps({**archive(fine), "version": 99}), 422, "validation_error"),
        (json.dumps(archive(fine, fine, partly_invalid)), 422, "validation_error"),
        (json.dumps(archive({**fine, "user_id": "someone-else"})), 422, "validation_error"),
        (json.dumps(archive(*[fine] * 6)), 413, "import_too_large"),
        (json.dumps(archive(conversation(*["x"] * 21))), 413, "import_too_large"),
        (json.dumps(archive(conversation("x" * MAX_IMPORT_BYTES))), 413, "payload_too_large"),
    ]
    headers = {**carl, "Content-Type": "application/json"}
    for body, status, code in refusals:
        refused = await api.post("/api/conversations/import", headers=headers, content=body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), body[:80]
        assert refused.json()["error"]["message"]
    partly = await api.post("/api/conversations/import", headers=headers, content=refusals[2][0])
    assert "conversations.2.messages.1.role" in partly.json()["error"]["message"]
    assert await everything(api, carl) == []
    assert (await exported(api, carl, "/api/conversations/export")).json()["conversations"] == []

    accepted = await api.post("/api/conversations/import", headers=carl, json=archive(fine))
    assert accepted.status_code == 201 and len(await everything(api, carl)) == 1
