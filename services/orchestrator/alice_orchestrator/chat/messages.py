"""The messages the handler stores and the `done` event carries, built from a request and the
outcome of its generation."""

from datetime import UTC, datetime, timedelta

from alice_common.events import ChatRequested, Usage
from alice_common.wire import Source, iso_ms

from alice_orchestrator.chat.generation import Outcome
from alice_orchestrator.store import message_of, utcnow


def user_message(request: ChatRequested) -> dict:
    # MongoDB keeps milliseconds: truncate so the cache and the database agree on ordering.
    created_at = request.occurred_at.astimezone(UTC)
    created_at = created_at.replace(microsecond=created_at.microsecond // 1000 * 1000)
    doc = {
        "_id": request.message_id,
        "conversation_id": request.conversation_id,
        "user_id": request.user_id,
        "role": "user",
        "content": request.content,
        "status": "completed",
        "created_at": created_at,
        "reply_id": request.reply_id,
    }
    if request.attachments:
        doc["attachments"] = [a.model_dump() for a in request.attachments]
    return doc


def listed_after(created_at: datetime, earlier: datetime | str | None) -> datetime:
    """`created_at`, or 1 ms after `earlier` when it is not later. A message is stamped when the
    backend accepts it, but can follow (or be a new version of) a message stored after that: one
    sent while the reply before it was still being written. Every listing orders by time, and an
    export needs each message after its parent, so it is listed after what it follows."""
    if isinstance(earlier, str):
        earlier = datetime.fromisoformat(earlier) if earlier else None
    if earlier is None:
        return created_at
    if earlier.tzinfo is None:
        earlier = earlier.replace(tzinfo=UTC)
    return max(created_at, earlier + timedelta(milliseconds=1))


def usage_of(outcome: Outcome, latency_ms: float) -> Usage:
    return Usage(
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        latency_ms=round(latency_ms, 1),
        ttft_ms=None if outcome.ttft_ms is None else round(outcome.ttft_ms, 1),
    )


def reply_document(
    request: ChatRequested, user_doc: dict, outcome: Outcome, sources: list[dict], model: str
) -> dict:
    reply_doc = {
        "_id": request.reply_id,
        "conversation_id": request.conversation_id,
        "user_id": request.user_id,
        "role": "assistant",
        "content": outcome.content,
        "status": outcome.status,
        # Never before the message it answers, whatever the skew between the two hosts' clocks.
        "created_at": max(utcnow(), user_doc["created_at"] + timedelta(milliseconds=1)),
        "reply_id": request.reply_id,
        "reply_to": request.message_id,
        "parent_id": request.message_id,
        "sources": [public_source(s) for s in sources],
        "usage": usage_of(outcome, outcome.latency_ms).model_dump(),
        "model": model,
        "finish_reason": outcome.finish_reason,
    }
    if outcome.left_out_turns:
        reply_doc["left_out_turns"] = outcome.left_out_turns
    if request.regenerate_of:
        reply_doc["regenerate_of"] = request.regenerate_of
    return reply_doc


def continuation_of(continuation_id: str, outcome: Outcome) -> dict:
    """What a reply keeps of each continuation applied to it: its id (applied once) and its usage
    (what `chat.completed` announces for it)."""
    return {"id": continuation_id, "usage": usage_of(outcome, outcome.latency_ms).model_dump()}


def announced_usage(request: ChatRequested, reply_doc: dict) -> Usage:
    """The reply's usage; for a continuation, the continuation's own (the rest was announced)."""
    if request.continue_of is None:
        return Usage(**reply_doc.get("usage", {}))
    for continuation in reply_doc.get("continued_by", []):
        if continuation["id"] == request.reply_id:
            return Usage(**continuation["usage"])
    return Usage()


def continued_reply(reply: dict, outcome: Outcome) -> dict:
    """The fields of a reply that a continuation changes: its text grows by what was generated,
    and it ends as the continuation did, unless that was stopped before it wrote anything (the
    reply is then still cut at its limit, and can be continued)."""
    usage = Usage.model_validate(reply.get("usage") or {})
    usage.completion_tokens += outcome.completion_tokens
    usage.latency_ms = round(usage.latency_ms + outcome.latency_ms, 1)
    changes = {"content": reply.get("content", "") + outcome.content, "usage": usage.model_dump()}
    if outcome.content or outcome.status != "stopped":
        changes |= {"status": outcome.status, "finish_reason": outcome.finish_reason}
    return changes


def completion_message(request: ChatRequested, outcome: Outcome, latency_ms: float, model: str) -> dict:
    """The reply to a stateless OpenAI-compatible request, as its `done` event carries it
    (`tool_calls` and `logprobs` only when there are some, or were asked for)."""
    extra = {"tool_calls": outcome.tool_calls, "logprobs": outcome.logprobs}
    return {k: v for k, v in extra.items() if v is not None} | {
        "id": request.reply_id,
        "role": "assistant",
        "content": outcome.content,
        "status": outcome.status,
        "finish_reason": outcome.finish_reason or "stop",
        "model": model,
        "created_at": iso_ms(utcnow()),
        "usage": usage_of(outcome, latency_ms).model_dump(),
    }


def message_view(doc: dict) -> dict:
    """The reply as the `done` event carries it."""
    return message_of(doc).model_dump(mode="json")


def public_source(source: dict) -> dict:
    """What the reply keeps of a retrieved passage (not the text the prompt was given)."""
    return Source.model_validate(source).model_dump()
