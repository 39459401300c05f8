"""Handling one `ChatRequested`: the orchestrator's part of the chat path (docs/contracts.md).

Plain async code with its dependencies passed in; the Kafka wiring lives in `main.py`. The
handler is safe to run again for the same request (redelivery after a crash): the user message
and the reply are stored under fixed ids, a half-streamed reply is withdrawn with `reset` and
generated again, and a reply already stored is not generated twice.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from aiokafka import ConsumerRecord
from alice_common import linear_re
from alice_common.events import ChatCompleted, ChatRequested, Usage, parse_event
from alice_common.kafka.failures import PermanentError
from pydantic import ValidationError

from alice_orchestrator import metrics
from alice_orchestrator.context import ContextCache, iso_ms, turn_of
from alice_orchestrator.prompt import PromptParts, build_messages_off_loop, fit_messages, usable_history
from alice_orchestrator.providers.base import ChatProvider
from alice_orchestrator.replystream import ReplyStream, TokenCoalescer, active_key, cancel_key
from alice_orchestrator.settings import Settings
from alice_orchestrator.store import ChatStore, utcnow
from alice_orchestrator.titles import generate_title

log = logging.getLogger(__name__)

Publish = Callable[[ChatCompleted], Awaitable[None]]


@dataclass
class Outcome:
    content: str
    status: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
    first_token_at: float | None = None
    latency_ms: float = 0.0


class InvalidRequest(PermanentError, ValueError):
    """The record can never be handled (bad JSON, wrong event, someone else's conversation)."""


class Retriever:
    """What the handler needs from retrieval (see `retrieval.py`)."""

    async def retrieve(self, request: ChatRequested) -> tuple[list[dict], list[str]]:
        return [], []


def parse_request(raw: bytes | str | None) -> ChatRequested:
    if raw is None:
        raise InvalidRequest("empty record")
    try:
        event = parse_event(raw)
    except (ValidationError, ValueError) as exc:
        raise InvalidRequest(f"not a valid event: {exc}") from exc
    if not isinstance(event, ChatRequested):
        raise InvalidRequest(f"unexpected event type {event.type!r} on the chat requests topic")
    return event


_HEX8 = linear_re.compile(r"^[0-9a-f]{8}")
_ID_FIELD = linear_re.compile(rb'"(reply_id|user_id)"\s*:\s*"([A-Za-z0-9_-]{1,128})"')


def recover_ids(raw: bytes | None) -> dict[str, str]:
    """`reply_id` and `user_id` of a record, even one that is not valid JSON (truncated, say),
    so that the client waiting on its stream still hears that it failed."""
    found: dict[str, str] = {}
    try:
        data = json.loads(raw or b"")
    except (ValueError, TypeError):
        data = None
    if isinstance(data, dict):
        found = {k: data[k] for k in ("reply_id", "user_id") if isinstance(data.get(k), str) and data[k]}
    elif raw:
        for name, value in _ID_FIELD.findall(raw[:100_000]):
            found.setdefault(name.decode(), value.decode())
    return found


def message_view(doc: dict) -> dict:
    """The reply as the `done` event carries it."""
    created = doc.get("created_at")
    return {
        "id": doc["_id"],
        "conversation_id": doc["conversation_id"],
        "role": "assistant",
        "reply_to": doc.get("reply_to"),
        "content": doc.get("content", ""),
        "status": doc.get("status", "completed"),
        "sources": doc.get("sources", []),
        "usage": doc.get("usage", {}),
        "model": doc.get("model"),
        "created_at": iso_ms(created) if isinstance(created, datetime) else created,
    }


class ChatHandler:
    def __init__(
        self,
        settings: Settings,
        store: ChatStore,
        redis: aioredis.Redis,
        provider: ChatProvider,
        publish: Publish,
        retriever: Retriever | None = None,
    ):
        self.settings = settings
        self.store = store
        self.redis = redis
        self.provider = provider
        self.publish = publish
        self.retriever = retriever or Retriever()
        self.context = ContextCache(redis, store, settings.context_cache_turns, settings.context_cache_ttl_s)

    # -- Kafka-facing entry points ----------------------------------------------------------------
    async def handle_record(self, record: ConsumerRecord) -> None:
        await self.handle(parse_request(record.value))

    async def on_dead_letter(self, record: ConsumerRecord, exc: BaseException) -> None:
        """After the loop parked a record in the DLQ: end its reply stream with `error`."""
        data = recover_ids(record.value)
        if not data.get("reply_id"):
            return
        stream = ReplyStream(self.redis, data["reply_id"])
        if await stream.has_terminal_event():
            return
        if isinstance(exc, InvalidRequest | ValidationError):
            code, message = "invalid_request", "The message could not be processed."
        else:
            code, message = "generation_failed", "The assistant could not generate a reply. Please retry."
        user_id = data.get("user_id")
        error = {"code": code, "message": message}
        await stream.end("failed", error, self.settings.reply_stream_ttl_s, user_id)
        metrics.REPLIES.labels("error").inc()

    async def _end_with_error(
        self, request: ChatRequested, stream: ReplyStream, code: str, message: str
    ) -> None:
        if not await stream.has_terminal_event():
            error = {"code": code, "message": message}
            await stream.end("failed", error, self.settings.reply_stream_ttl_s, request.user_id)
        else:
            await self.redis.zrem(active_key(request.user_id), request.reply_id)
        metrics.REPLIES.labels("error").inc()

    # -- the chat path --------------------------------------------------------------------------
    async def handle(self, request: ChatRequested) -> None:
        # Round trips before the first token are the pipeline's overhead: the lookups run
        # concurrently and are all reads; the writes that need not precede generation (the user
        # message, the conversation's `updated_at`) run beside it and are awaited before the
        # reply is stored. Nothing is written before the conversation's owner is checked.
        if request.completion is not None:
            await self._complete(request)
            return
        picked_up = time.time()
        stream = ReplyStream(self.redis, request.reply_id)
        conversation, existing, stored_user, half_streamed, cancelled = await asyncio.gather(
            self.store.conversation_by_id(request.conversation_id),
            self.store.get_message(request.reply_id),
            self.store.get_message(request.message_id),
            stream.has_tokens_since_reset(),
            self.redis.exists(cancel_key(request.reply_id)),
        )
        if conversation is None:
            # The backend checked it exists before publishing: it was deleted since. Not poison.
            await self._end_with_error(
                request, stream, "conversation_not_found", "The conversation no longer exists."
            )
            return
        for doc, what in ((conversation, "conversation"), (existing, "reply"), (stored_user, "message")):
            if doc is not None and doc.get("user_id") != request.user_id:
                raise InvalidRequest(f"{what} belongs to another user")

        user_doc = stored_user or self._user_message(request)
        if existing is not None:
            if stored_user is None:
                await self._store_user_message(user_doc)
            await self._redeliver_stored(request, existing, stream)
            return

        writes = asyncio.gather(
            self.store.touch_conversation(request.user_id, request.conversation_id),
            self._store_user_message(user_doc) if stored_user is None else _noop(),
        )
        try:
            if half_streamed:
                await stream.add("reset", {})
                metrics.RESETS.inc()
            if not cancelled:
                await stream.add("status", {"state": "generating"})
            outcome, sources = await self._answer(request, user_doc, stream, cancelled, picked_up)
        except BaseException:
            await asyncio.gather(writes, return_exceptions=True)
            raise
        await writes
        await self._store_reply(request, conversation, user_doc, outcome, sources, stream)

    async def _answer(
        self, request: ChatRequested, user_doc: dict, stream: ReplyStream, cancelled: bool, picked_up: float
    ) -> tuple["Outcome", list[dict]]:
        """Prompt (retrieval and recent turns, concurrently), then the model's streamed reply."""
        started = time.perf_counter()
        sources: list[dict] = []
        if cancelled:
            outcome = Outcome(content="", status="stopped")
        else:
            (sources, memories), turns = await asyncio.gather(
                self.retriever.retrieve(request),
                self.context.recent_turns(request.user_id, request.conversation_id),
            )
            history = usable_history(turns, request.message_id, iso_ms(user_doc["created_at"]))
            messages = await build_messages_off_loop(
                PromptParts(self.settings.system_prompt, request.content, history, sources, memories),
                context_tokens=self.settings.llm_context_tokens,
                max_tokens=self.settings.llm_max_tokens,
                count=self.provider.count_tokens,
            )
            outcome = await self._generate(request.reply_id, messages, stream)
            if outcome.first_token_at is not None:
                first, published = outcome.first_token_at, request.occurred_at.timestamp()
                metrics.PIPELINE_TTFT.labels("handler").observe(first - picked_up)
                metrics.PIPELINE_TTFT.labels("published").observe(max(0.0, first - published))
        outcome.latency_ms = (time.perf_counter() - started) * 1000
        return outcome, sources

    async def _store_reply(
        self,
        request: ChatRequested,
        conversation: dict,
        user_doc: dict,
        outcome: "Outcome",
        sources: list[dict],
        stream: ReplyStream,
    ) -> None:
        usage = Usage(
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens,
            latency_ms=round(outcome.latency_ms, 1),
            ttft_ms=None if outcome.ttft_ms is None else round(outcome.ttft_ms, 1),
        )
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
            "sources": [_public_source(s) for s in sources],
            "usage": usage.model_dump(),
            "model": self.provider.model,
        }
        if request.regenerate_of:
            reply_doc["regenerate_of"] = request.regenerate_of
        if not await self.store.insert_message(reply_doc):
            reply_doc = await self.store.get_message(request.reply_id) or reply_doc
        await asyncio.gather(
            self.context.append(request.conversation_id, [turn_of(user_doc), turn_of(reply_doc)]),
            self._finish(request, reply_doc, stream),
        )
        metrics.REPLIES.labels(outcome.status).inc()
        metrics.COMPLETION_TOKENS.inc(outcome.completion_tokens)
        if outcome.ttft_ms is not None:
            metrics.TTFT.observe(outcome.ttft_ms / 1000)
        if not conversation.get("title") and outcome.status == "completed":
            await self._title(request)

    @staticmethod
    def _user_message(request: ChatRequested) -> dict:
        # MongoDB keeps milliseconds: truncate so the cache and the database agree on ordering.
        created_at = request.occurred_at.astimezone(UTC)
        created_at = created_at.replace(microsecond=created_at.microsecond // 1000 * 1000)
        return {
            "_id": request.message_id,
            "conversation_id": request.conversation_id,
            "user_id": request.user_id,
            "role": "user",
            "content": request.content,
            "status": "completed",
            "created_at": created_at,
            "reply_id": request.reply_id,
        }

    async def _store_user_message(self, user_doc: dict) -> dict:
        """Insert once (redelivery, regenerate: already there); returns the stored message."""
        if await self.store.insert_message(user_doc):
            return user_doc
        stored = await self.store.get_message(user_doc["_id"])
        if stored is None or stored["user_id"] != user_doc["user_id"]:
            raise InvalidRequest("message id belongs to another user")
        return stored

    async def _complete(self, request: ChatRequested) -> None:
        """A stateless OpenAI-compatible request: the given messages, no conversation, nothing
        stored; the reply stream alone carries the answer. A redelivered request whose stream has
        ended is done; one whose stream holds tokens of a dead attempt gets `reset` first."""
        params = request.completion
        assert params is not None
        stream = ReplyStream(self.redis, request.reply_id)
        if await stream.has_terminal_event():
            await self.redis.zrem(active_key(request.user_id), request.reply_id)
            return
        max_tokens = params.max_tokens or self.settings.llm_max_tokens
        temperature = self.settings.llm_temperature if params.temperature is None else params.temperature
        if await stream.has_tokens_since_reset():
            await stream.add("reset", {})
            metrics.RESETS.inc()
        started = time.perf_counter()
        if await self.redis.exists(cancel_key(request.reply_id)):
            outcome = Outcome(content="", status="stopped")
        else:
            await stream.add("status", {"state": "generating"})
            # Tokenizing up to a whole context window of text: off the event loop.
            messages = await asyncio.to_thread(
                fit_messages,
                [turn.model_dump() for turn in params.messages],
                context_tokens=self.settings.llm_context_tokens,
                max_tokens=max_tokens,
                count=self.provider.count_tokens,
            )
            # Seeded by the reply id: a retry after a crash generates the same text, which is
            # what lets the backend continue an OpenAI stream the client has half received.
            seed = int(request.reply_id[:8], 16) if _HEX8.match(request.reply_id) else None
            outcome = await self._generate(
                request.reply_id, messages, stream, max_tokens, temperature, params.stop, seed
            )
        latency_ms = (time.perf_counter() - started) * 1000
        finish_reason = "length" if outcome.completion_tokens >= max_tokens else "stop"
        message = {
            "id": request.reply_id,
            "role": "assistant",
            "content": outcome.content,
            "status": outcome.status,
            "finish_reason": finish_reason,
            "model": self.provider.model,
            "created_at": iso_ms(utcnow()),
            "usage": Usage(
                prompt_tokens=outcome.prompt_tokens,
                completion_tokens=outcome.completion_tokens,
                latency_ms=round(latency_ms, 1),
                ttft_ms=None if outcome.ttft_ms is None else round(outcome.ttft_ms, 1),
            ).model_dump(),
        }
        await stream.end("done", {"message": message}, self.settings.reply_stream_ttl_s, request.user_id)
        metrics.REPLIES.labels(outcome.status).inc()
        metrics.COMPLETION_TOKENS.inc(outcome.completion_tokens)
        if outcome.ttft_ms is not None:
            metrics.TTFT.observe(outcome.ttft_ms / 1000)

    async def _generate(
        self,
        reply_id: str,
        messages: list[dict],
        stream: ReplyStream,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> "Outcome":
        """Stream the model into the reply stream until it ends or `cancel:{reply_id}` appears."""
        coalescer = TokenCoalescer(stream, self.settings.token_flush_interval_ms / 1000)
        generation = self.provider.stream(
            messages,
            max_tokens=max_tokens or self.settings.llm_max_tokens,
            temperature=self.settings.llm_temperature if temperature is None else temperature,
            stop=stop,
            seed=seed,
        )

        async def pump() -> None:
            async for delta in generation:
                coalescer.add(delta)

        pump_task = asyncio.create_task(pump())
        status = "completed"
        poll_s = self.settings.cancel_poll_interval_ms / 1000
        try:
            while True:
                done, _ = await asyncio.wait({pump_task}, timeout=poll_s)
                if done:
                    pump_task.result()
                    break
                if await self.redis.exists(cancel_key(reply_id)):
                    status = "stopped"
                    pump_task.cancel()
                    await asyncio.gather(pump_task, return_exceptions=True)
                    break
        except BaseException:
            # A failed attempt must not leave a write in flight that could land after the
            # next attempt's `reset`.
            await asyncio.gather(coalescer.close(), return_exceptions=True)
            raise
        finally:
            if not pump_task.done():
                pump_task.cancel()
                await asyncio.gather(pump_task, return_exceptions=True)
            await generation.aclose()
        await coalescer.close()
        return Outcome(
            coalescer.content,
            status,
            generation.prompt_tokens,
            generation.completion_tokens,
            generation.ttft_ms,
            coalescer.first_write_at,
        )

    async def _finish(self, request: ChatRequested, reply_doc: dict, stream: ReplyStream) -> None:
        ttl_s = self.settings.reply_stream_ttl_s
        await stream.end("done", {"message": message_view(reply_doc)}, ttl_s, request.user_id)
        await self.publish(
            ChatCompleted(
                conversation_id=request.conversation_id,
                user_id=request.user_id,
                user_message_id=request.message_id,
                assistant_message_id=reply_doc["_id"],
                reply_id=request.reply_id,
                user_content=request.content,
                assistant_content=reply_doc.get("content", ""),
                status=reply_doc.get("status", "completed"),
                model=reply_doc.get("model") or "",
                usage=Usage(**reply_doc.get("usage", {})),
                trace_id=request.trace_id,
            )
        )

    async def _redeliver_stored(self, request: ChatRequested, reply_doc: dict, stream: ReplyStream) -> None:
        """The reply is stored already. If a crash came between storing and `done`, finish the
        stream now (and announce it again: consumers of `chat.completed` are idempotent)."""
        if await stream.exists() and not await stream.has_terminal_event():
            log.info("finishing a stored reply after redelivery", extra={"reply_id": request.reply_id})
            await self._finish(request, reply_doc, stream)
        else:
            await self.redis.zrem(active_key(request.user_id), request.reply_id)

    async def _title(self, request: ChatRequested) -> None:
        title = await generate_title(self.provider, request.content, self.settings.title_max_tokens)
        await self.store.set_title_if_empty(request.user_id, request.conversation_id, title)


async def _noop() -> None:
    return None


def _public_source(source: dict) -> dict:
    return {k: source.get(k) for k in ("document_id", "filename", "chunk", "snippet", "score")}
