"""The smoke flows every way Alice runs must pass, written once and run against each target: the
native stack (tests/e2e/test_smoke.py), compose (tests/containers/test_stack.py) and the cluster
(tests/cluster/test_deploy.py). `url` is the target's public entry point; `direct` is False behind
nginx (compose, the cluster), whose reply streams take the `/api/replies` route."""

import asyncio
import time

import httpx
from alice_common.reply_stream import DONE, TOKEN

from tests.support.stack import ask, new_conversation, register, send, sse_events

FACT = "The lighthouse keeper of Varnholm island is named Ingrid Salo."
DOCUMENT = f"# Varnholm\n\n{FACT}\n\nVarnholm is a small island with one lighthouse.\n".encode()


async def a_reply_streams_token_by_token_and_resumes(url: str, prefix: str, direct: bool) -> None:
    """Sign up, send, read two events, resume after the last one with `Last-Event-ID`, read the
    whole stream again: the two halves are the whole, the reply completes with the streamed text,
    and its tokens arrive spread over the generation (no proxy buffers them)."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:
        auth = await register(api, prefix)
        conversation = await new_conversation(api, auth)
        # A reply long enough to span several 50 ms token batches (a short one can fit in 0.3 s).
        accepted = await send(api, auth, conversation, "Write four sentences about the sea.")
        stream = accepted["stream_url"]
        arrivals: list[float] = []

        async def on_event(event: dict) -> None:
            if event["event"] == TOKEN:
                arrivals.append(time.monotonic())

        first = await sse_events(api, stream, auth, stop_after=2, read_timeout_s=300, direct=direct)
        rest = await sse_events(
            api,
            stream,
            auth,
            last_event_id=first[-1]["id"],
            on_event=on_event,
            read_timeout_s=300,
            direct=direct,
        )
        full = await sse_events(api, stream, auth, read_timeout_s=300, direct=direct)
    assert first + rest == full
    kinds = [e["event"] for e in full]
    assert kinds[-1] == DONE, kinds
    done = full[-1]["data"]["message"]
    text = "".join(e["data"]["delta"] for e in full if e["event"] == TOKEN)
    assert done["status"] == "completed" and done["content"] == text and text.strip()
    assert len(arrivals) >= 3 and arrivals[-1] - arrivals[0] > 0.3, f"{len(arrivals)} tokens: {kinds}"


async def an_upload_is_indexed_and_the_answer_cites_it(url: str, prefix: str, direct: bool) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:
        auth = await register(api, prefix)
        response = await api.post(
            "/api/documents", headers=auth, files={"file": ("varnholm.md", DOCUMENT, "text/markdown")}
        )
        assert response.status_code == 202, response.text
        document_id = response.json()["document"]["id"]
        deadline = time.monotonic() + 300
        while True:
            status = (await api.get(f"/api/documents/{document_id}", headers=auth)).json()["status"]
            if status in ("indexed", "failed") or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        assert status == "indexed"
        answer = await ask(api, auth, "Who is the lighthouse keeper of Varnholm island?", direct=direct)
    cited = [s for s in answer["message"]["sources"] if s["document_id"] == document_id]
    assert cited and cited[0]["filename"] == "varnholm.md", answer["message"]["sources"]
    assert any("Ingrid Salo" in s["snippet"] for s in cited)
