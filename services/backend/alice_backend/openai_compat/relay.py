"""From a reply stream (`reply:{id}`) to what an OpenAI client sees.

OpenAI's protocol has no `reset`: text a client has received cannot be withdrawn. When a worker
dies mid-reply and another one generates it again, the client has already seen a prefix of the
dead attempt. `answer_text` therefore holds the new attempt back until it has caught up with
what was sent: if it starts with exactly that text (the rule: the orchestrator seeds `/v1`
generations with the reply id), the client simply receives the rest, as if nothing had happened;
if it diverged, the stream ends with an error the SDKs raise (`retry_diverged`), never with a
reply stitched from two attempts. A reset before any text was sent is invisible to the client.
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from alice_common.reply_stream import DONE, FAILED, LEGACY_ERROR, RESET, TOKEN


@dataclass
class Text:
    delta: str


@dataclass
class Heartbeat:
    pass


@dataclass
class Finished:
    message: dict


@dataclass
class Failed:
    code: str
    message: str


@dataclass
class _Progress:
    sent: str = ""  # what the client has received
    attempt: str = ""  # what the current attempt has generated
    catching_up: bool = False


DIVERGED = Failed(
    "retry_diverged",
    "The server restarted this reply and the new attempt differs from the text already sent; "
    "retry the request.",
)


def _on_token(state: _Progress, delta: str) -> Text | Failed | None:
    state.attempt += delta
    if not state.catching_up:
        state.sent += delta
        return Text(delta)
    if len(state.attempt) < len(state.sent):
        return None
    if not state.attempt.startswith(state.sent):
        return DIVERGED
    rest = state.attempt[len(state.sent) :]
    state.sent, state.catching_up = state.attempt, False
    return Text(rest) if rest else None


async def answer_text(
    entries: AsyncIterator[tuple[str | None, str, str]],
) -> AsyncIterator[Text | Heartbeat | Finished | Failed]:
    """Text deltas safe to send, then one `Finished` or `Failed` (see the module's docstring)."""
    state = _Progress()
    async for entry_id, event, data in entries:
        if entry_id is None:
            yield Heartbeat()
            continue
        try:
            payload = json.loads(data)
        except ValueError:
            payload = {}
        if event == TOKEN:
            piece = _on_token(state, str(payload.get("delta", "")))
            if piece is not None:
                yield piece
            if isinstance(piece, Failed):
                return
        elif event == RESET:
            state.attempt = ""
            state.catching_up = bool(state.sent)
        elif event == DONE:
            message = payload.get("message") or {}
            content = str(message.get("content", ""))
            if not content.startswith(state.sent):
                yield DIVERGED
                return
            if len(content) > len(state.sent):
                yield Text(content[len(state.sent) :])
            yield Finished(message)
            return
        elif event in (FAILED, LEGACY_ERROR):
            yield Failed(str(payload.get("code", "generation_failed")), str(payload.get("message", "")))
            return
