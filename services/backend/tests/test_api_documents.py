"""Uploads through the HTTP API: type by content, size limit while streaming, GridFS + registration."""

from alice_backend.routes.documents import UPLOAD_PATH
from gridfs import AsyncGridFSBucket


async def test_markdown_upload_is_stored_registered_and_accepted(backend, settings):
    auth = await backend.register()
    response = await backend.client.post(
        UPLOAD_PATH,
        headers=backend.bearer(auth),
        files={"file": ("notes.md", b"# Notes\n\nAlice reads this.", "text/plain")},
    )
    assert response.status_code == 202, response.text
    document = response.json()["document"]
    assert document["status"] == "queued" and document["progress"] == 0 and document["filename"] == "notes.md"
    [registered] = backend.dataflow.registered
    assert registered["user_id"] == auth["user"]["id"] and registered["content_type"] == "text/markdown"
    bucket = AsyncGridFSBucket(backend.ctx.db, bucket_name="uploads")
    stream = await bucket.open_download_stream(registered["blob_id"])
    assert await stream.read() == b"# Notes\n\nAlice reads this."


async def test_declared_type_is_ignored_binary_is_415(backend):
    auth = await backend.register()
    response = await backend.client.post(
        UPLOAD_PATH,
        headers=backend.bearer(auth),
        files={"file": ("pic.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "text/plain")},
    )
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    assert backend.dataflow.registered == []


async def test_oversized_upload_is_413_and_leaves_no_blob(backend, settings):
    auth = await backend.register()
    body = b"a" * (settings.max_upload_bytes + 1)
    response = await backend.client.post(
        UPLOAD_PATH, headers=backend.bearer(auth), files={"file": ("big.txt", body)}
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert await backend.ctx.db["uploads.files"].count_documents({}) == 0
    far_too_big = b"a" * (settings.max_upload_bytes * 3)
    response = await backend.client.post(
        UPLOAD_PATH, headers=backend.bearer(auth), files={"file": ("big.txt", far_too_big)}
    )
    assert response.status_code == 413


async def test_invalid_utf8_after_the_first_chunk_is_415(backend):
    auth = await backend.register()
    body = b"fine text " * 2000 + b"\xff\xfe"
    response = await backend.client.post(
        UPLOAD_PATH, headers=backend.bearer(auth), files={"file": ("a.txt", body)}
    )
    assert response.status_code == 415
    assert await backend.ctx.db["uploads.files"].count_documents({}) == 0


async def test_storage_quota_is_413_before_the_body_is_parsed(backend, settings):
    settings.max_documents_per_user = 2
    settings.max_stored_bytes_per_user = 1000
    auth = await backend.register()
    first = await backend.client.post(
        UPLOAD_PATH, headers=backend.bearer(auth), files={"file": ("a.txt", b"a" * 600)}
    )
    assert first.status_code == 202, first.text
    too_big = await backend.client.post(
        UPLOAD_PATH, headers=backend.bearer(auth), files={"file": ("b.txt", b"b" * 500)}
    )
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "storage_quota_exceeded"
    second = await backend.client.post(
        UPLOAD_PATH, headers=backend.bearer(auth), files={"file": ("c.txt", b"c" * 300)}
    )
    assert second.status_code == 202, second.text
    third = await backend.client.post(
        UPLOAD_PATH, headers=backend.bearer(auth), files={"file": ("d.txt", b"d")}
    )
    assert third.status_code == 413 and third.json()["error"]["code"] == "storage_quota_exceeded"
    assert "2 documents" in third.json()["error"]["message"]
    other = await backend.register()  # quotas are per user
    assert (
        await backend.client.post(UPLOAD_PATH, headers=backend.bearer(other), files={"file": ("e.txt", b"e")})
    ).status_code == 202
    assert await backend.ctx.db["uploads.files"].count_documents({}) == 3


async def test_rate_limited_uploads_are_refused_before_the_body_is_spooled(backend, settings, monkeypatch):
    from starlette.requests import Request

    settings.upload_rate_capacity = 1
    settings.upload_rate_per_s = 0.001
    parsed: list[int] = []
    real_form = Request.form

    def counting_form(self, *args, **kwargs):
        parsed.append(1)
        return real_form(self, *args, **kwargs)

    monkeypatch.setattr(Request, "form", counting_form)
    auth = await backend.register()
    ok = await backend.client.post(
        UPLOAD_PATH, headers=backend.bearer(auth), files={"file": ("a.txt", b"hi")}
    )
    assert ok.status_code == 202
    refused = await backend.client.post(
        UPLOAD_PATH, headers=backend.bearer(auth), files={"file": ("b.txt", b"x" * 40_000)}
    )
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert parsed == [1], "the refused request's multipart body must not be parsed"
