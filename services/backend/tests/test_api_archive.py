"""Export and import through the public API: downloads of one conversation or all, an import
validated whole at the edge (nothing reaches the orchestrator unless all of it is valid), the caps,
and another user's conversation answering 404."""

import json

import pytest

ARCHIVE = {"format": "alice.conversations", "version": 1}
WHEN = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def settings(settings):
    return settings.model_copy(
        update={
            "max_import_bytes": 8 * 1024,
            "max_export_conversations": 12,
            "max_import_conversations": 3,
            "max_import_messages": 4,
        }
    )


def _conversation(title: str, *contents: str) -> dict:
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": c, "created_at": WHEN}
        for i, c in enumerate(contents)
    ]
    return {"title": title, "created_at": WHEN, "updated_at": WHEN, "messages": messages}


async def _import(backend, auth, body) -> object:
    return await backend.client.post("/api/conversations/import", headers=backend.bearer(auth), json=body)


async def test_import_then_export_one_and_all_in_both_formats(backend):
    owner, other = await backend.register(), await backend.register()
    body = {
        **ARCHIVE,
        "conversations": [_conversation("Rome trip", "Where?", "Rome."), _conversation("Empty")],
    }
    imported = await _import(backend, owner, body)
    assert imported.status_code == 201, imported.text
    ids = [c["id"] for c in imported.json()["conversations"]]
    assert [c["title"] for c in imported.json()["conversations"]] == ["Rome trip", "Empty"]
    assert backend.orchestrator.imports[0][0] == owner["user"]["id"]

    one = await backend.client.get(f"/api/conversations/{ids[0]}/export", headers=backend.bearer(owner))
    assert one.status_code == 200, one.text
    assert one.headers["content-type"] == "application/json"
    assert one.headers["content-disposition"].startswith(
        'attachment; filename="alice-conversation-rome-trip-'
    )
    exported = one.json()
    assert [m["content"] for m in exported["conversations"][0]["messages"]] == ["Where?", "Rome."]
    assert exported["conversations"][0]["id"] == ids[0]

    markdown = await backend.client.get(
        f"/api/conversations/{ids[0]}/export", headers=backend.bearer(owner), params={"format": "markdown"}
    )
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.headers["content-disposition"].endswith('.md"')
    assert markdown.text.startswith("# Rome trip\n") and "## You · " in markdown.text

    every = await backend.client.get("/api/conversations/export", headers=backend.bearer(owner))
    assert every.status_code == 200, every.text
    assert every.headers["content-disposition"].startswith('attachment; filename="alice-conversations-2')
    assert [c["id"] for c in every.json()["conversations"]] == ids
    every_md = await backend.client.get(
        "/api/conversations/export", headers=backend.bearer(owner), params={"format": "markdown"}
    )
    assert every_md.text.startswith("# Alice conversations\n\n## Rome trip\n") and "## Empty" in every_md.text

    for url in (f"/api/conversations/{ids[0]}/export", "/api/conversations/nope/export"):
        stolen = await backend.client.get(url, headers=backend.bearer(other))
        assert stolen.status_code == 404, url
    nothing = await backend.client.get("/api/conversations/export", headers=backend.bearer(other))
    assert nothing.json()["conversations"] == []
    bad = await backend.client.get(
        "/api/conversations/export", headers=backend.bearer(owner), params={"format": "pdf"}
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "validation_error")
    assert (await backend.client.get("/api/conversations/export")).status_code == 401


async def test_export_all_reads_page_after_page_up_to_the_cap(backend):
    owner = await backend.register()
    for i in range(12):  # two pages of the orchestrator's
        await backend.client.post(
            "/api/conversations", headers=backend.bearer(owner), json={"title": f"c{i}"}
        )
    every = await backend.client.get("/api/conversations/export", headers=backend.bearer(owner))
    assert [c["title"] for c in every.json()["conversations"]] == [f"c{i}" for i in range(12)]

    await backend.client.post("/api/conversations", headers=backend.bearer(owner), json={"title": "one more"})
    too_many = await backend.client.get("/api/conversations/export", headers=backend.bearer(owner))
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (413, "export_too_large")


# Its second message has no valid role.
PARTLY_INVALID = {
    **_conversation("bad", "fine"),
    "messages": [
        {"role": "user", "content": "x", "created_at": WHEN},
        {"role": "system", "content": "y", "created_at": WHEN},
    ],
}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "malformed_json"),
        ({**ARCHIVE, "version": 2, "conversations": [_conversation("a")]}, 422, "validation_error"),
        ({"format": "other", "version": 1, "conversations": [_conversation("a")]}, 422, "validation_error"),
        ({**ARCHIVE, "conversations": []}, 422, "validation_error"),
        ({**ARCHIVE, "conversations": [_conversation("ok", "hi"), PARTLY_INVALID]}, 422, "validation_error"),
        ({**ARCHIVE, "conversations": [{**_conversation("a"), "user_id": "x"}]}, 422, "validation_error"),
        ({**ARCHIVE, "conversations": [_conversation(str(i)) for i in range(4)]}, 413, "import_too_large"),
        ({**ARCHIVE, "conversations": [_conversation("a", *"abcde")]}, 413, "import_too_large"),
        ({**ARCHIVE, "conversations": [_conversation("a", "x" * 9000)]}, 413, "payload_too_large"),
    ],
)  # fmt: skip
async def test_a_bad_import_is_refused_whole_and_reaches_no_store(backend, body, status, code):
    owner = await backend.register()
    content = body if isinstance(body, str) else json.dumps(body)
    refused = await backend.client.post(
        "/api/conversations/import",
        headers={**backend.bearer(owner), "Content-Type": "application/json"},
        content=content,
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), refused.text
    assert refused.json()["error"]["message"]
    assert backend.orchestrator.imports == []


async def test_imports_are_rate_limited(backend):
    owner = await backend.register()
    backend.ctx.settings.import_rate_capacity = 2
    body = {**ARCHIVE, "conversations": [_conversation("a")]}
    assert [(await _import(backend, owner, body)).status_code for _ in range(3)] == [201, 201, 429]


async def test_exports_are_rate_limited(backend):
    owner = await backend.register()
    backend.ctx.settings.export_rate_capacity = 2
    created = await backend.client.post("/api/conversations", headers=backend.bearer(owner), json={})
    one = f"/api/conversations/{created.json()['id']}/export"
    statuses = [
        (await backend.client.get(path, headers=backend.bearer(owner))).status_code
        for path in (one, "/api/conversations/export", one)
    ]
    assert statuses == [200, 200, 429]
    refused = await backend.client.get("/api/conversations/export", headers=backend.bearer(owner))
    assert refused.json()["error"]["code"] == "rate_limited" and refused.headers["retry-after"]
