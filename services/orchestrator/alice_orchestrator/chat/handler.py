"""Handling one `ChatRequested`: the orchestrator's part of the chat path (docs/contracts.md).

Plain async code with its dependencies passed in; the Kafka wiring lives in `main.py`. The
handler is safe to run again for the same request (redelivery after a crash): the user message
and the reply are stored under fixed ids, a half-streamed reply is withdrawn with `reset` and
generated again, and a reply already stored is not generated twice. A continuation (of a reply cut
at its length limit) is appended to its reply once: the reply lists the continuations applied.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from aiokafka import ConsumerRecord
from alice_common.events import ChatCompleted, ChatRequested
from alice_common.reply_stream import (
    DONE,
    RESET,
    ReplyStream,
    release_slot,
    stop_requested,
)
from pydantic import ValidationError

from alice_orchestrator import metrics
from alice_orchestrator.chat import structured
from alice_orchestrator.chat.generation import Outcome, generate, seed_of
from alice_orchestrator.chat.messages import (
    announced_usage,
    completion_message,
    continuation_of,
    continued_reply,
    listed_after,
    message_view,
    reply_document,
    user_message,
)
from alice_orchestrator.chat.records import InvalidRequest, recover_ids
from alice_orchestrator.conversation_settings import ReplySettings, chosen_model, reply_settings
from alice_orchestrator.model_health import ModelHealth
from alice_orchestrator.prompt import (
    PromptParts,
    Turn,
    build_messages_off_loop,
    fit_messages,
    left_out_turns,
)
from alice_orchestrator.providers.registry import ModelRegistry, ServedModel, UnknownModel
from alice_orchestrator.recent_turns import RecentTurns, turn_of
from alice_orchestrator.settings import Settings
from alice_orchestrator.store import ChatStore
from alice_orchestrator.titles import generate_title
from alice_orchestrator.tree import Tree, end_of_branch

log = logging.getLogger(__name__)

Publish = Callable[[ChatCompleted], Awaitable[None]]


class Retriever:
    """What the handler needs from retrieval (see `retrieval.py`)."""

    async def retrieve(self, request: ChatRequested) -> tuple[list[dict], list[str]]:
        return [], []


class ChatHandler:
    def __init__(
        self,
        settings: Settings,
        store: ChatStore,
        redis: aioredis.Redis,
        models: ModelRegistry,
        publish: Publish,
        retriever: Retriever | None = None,
        health: ModelHealth | None = None,
    ):
        self.settings = settings
        self.store = store
        self.redis = redis
        self.models = models
        self.publish = publish
        self.retriever = retriever or Retriever()
        self.health = health
        self.recent_turns = RecentTurns(
            redis, store, settings.context_cache_turns, settings.context_cache_ttl_s
        )

    # -- Kafka-facing entry points ----------------------------------------------------------------
    async def handle_record(self, request: ChatRequested, record: ConsumerRecord) -> None:
        """The consume loop's handler: it decoded the record (`alice_common.topics.CHAT_REQUESTS`)."""
        await self.handle(request)

    async def on_dead_letter(self, record: ConsumerRecord, exc: BaseException) -> None:
        """After the loop parked a record in the DLQ: end its reply stream with `failed`."""
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
        await stream.fail(code, message, self.settings.reply_stream_ttl_s, data.get("user_id"))
        metrics.REPLIES.labels("error").inc()

    async def _end_with_error(
        self, request: ChatRequested, stream: ReplyStream, code: str, message: str
    ) -> None:
        if not await stream.has_terminal_event():
            await stream.fail(code, message, self.settings.reply_stream_ttl_s, request.user_id)
        else:
            await release_slot(self.redis, request.user_id, request.reply_id)
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
        if request.continue_of is not None:
            await self._continue(request)
            return
        picked_up = time.time()
        stream = ReplyStream(self.redis, request.reply_id)
        found = await self._look_up(request, stream, reply_id=request.reply_id)
        if found is None:
            return
        conversation, existing, stored_user, half_streamed, cancelled, anchor, turns = found

        user_doc = stored_user
        if user_doc is None:
            parent = await self._parent(request, conversation, anchor, turns, stream)
            if parent is _FAILED:
                return
            user_doc = user_message(request) | {"parent_id": parent}
            follows = anchor or next((t.node() for t in turns if t.id == parent), None)
            user_doc["created_at"] = listed_after(user_doc["created_at"], follows and follows["created_at"])
        if existing is not None:
            if stored_user is None:
                await self._store_user_message(user_doc)
            await self._redeliver_stored(request, existing, stream)
            return

        served = await self._conversation_model(request, conversation, stream)
        if served is None:
            return
        chosen = reply_settings(self.settings, conversation, served)
        writes = asyncio.gather(
            # The branch shown ends at the newest reply to this message (`tree.py`).
            self.store.touch_conversation(request.conversation_id, current_leaf=request.message_id),
            self._store_user_message(user_doc) if stored_user is None else _noop(),
        )
        try:
            if half_streamed:
                await stream.add(RESET, {})
                metrics.RESETS.inc()
            outcome, sources = await self._answer(
                request, served, chosen, user_doc, turns, stream, cancelled, picked_up
            )
        except BaseException:
            await asyncio.gather(writes, return_exceptions=True)
            raise
        await writes
        await self._store_reply(request, served, conversation, user_doc, outcome, sources, stream)

    async def _served_model(
        self, request: ChatRequested, stream: ReplyStream, name: str | None = None
    ) -> ServedModel | None:
        """The model the request names (or `name`), or None once its reply has failed: a name this
        orchestrator does not serve fails the reply (no retry would help), before anything is written."""
        try:
            return self.models.get(request.model or name)
        except UnknownModel as exc:
            log.warning("unknown model", extra={"reply_id": request.reply_id, "model": exc.name[:200]})
            await self._end_with_error(
                request, stream, "model_not_found", f"The model '{exc.name[:200]}' is not served any more."
            )
            return None

    async def _conversation_model(
        self, request: ChatRequested, conversation: dict, stream: ReplyStream
    ) -> ServedModel | None:
        """The model chosen for the conversation (`_served_model`). One other than the default
        whose endpoint failed its last health probe fails the reply at once with
        `model_unavailable`: the user picked it and can pick another. The default model keeps
        waiting for its endpoint (ModelUnavailable spends no attempt), as before."""
        served = await self._served_model(request, stream, chosen_model(conversation))
        if served is None or served is self.models.default or self.health is None:
            return served
        if await self.health.available(served):
            return served
        log.warning("model unavailable", extra={"reply_id": request.reply_id, "model": served.name})
        await self._end_with_error(
            request,
            stream,
            "model_unavailable",
            f"The model '{served.name}' is unavailable right now. Pick another model or try again later.",
        )
        return None

    async def _answer(
        self,
        request: ChatRequested,
        served: ServedModel,
        chosen: ReplySettings,
        user_doc: dict,
        turns: list[Turn],
        stream: ReplyStream,
        cancelled: bool,
        picked_up: float,
    ) -> tuple[Outcome, list[dict]]:
        """Prompt (retrieval, and the message's branch), then the model's streamed reply."""
        started = time.perf_counter()
        sources: list[dict] = []
        if cancelled:
            outcome = Outcome(content="", status="stopped")
        else:
            (sources, memories), history = await asyncio.gather(
                self.retriever.retrieve(request),
                self.recent_turns.branch_before(
                    request.user_id, request.conversation_id, turns, turn_of(user_doc)
                ),
            )
            parts = PromptParts(chosen.system_prompt, request.content, history, sources, memories)
            messages = await build_messages_off_loop(
                parts,
                context_tokens=served.context_tokens,
                max_tokens=chosen.max_tokens,
                count=served.provider.count_tokens,
            )
            outcome = await generate(
                self.settings,
                self.redis,
                served.provider,
                request.reply_id,
                messages,
                stream,
                max_tokens=chosen.max_tokens,
                temperature=chosen.temperature,
            )
            outcome.left_out_turns = left_out_turns(parts, messages)
            if outcome.first_token_at is not None:
                first, published = outcome.first_token_at, request.occurred_at.timestamp()
                metrics.PIPELINE_TTFT.labels("handler").observe(first - picked_up)
                metrics.PIPELINE_TTFT.labels("published").observe(max(0.0, first - published))
        outcome.latency_ms = (time.perf_counter() - started) * 1000
        return outcome, sources

    async def _store_reply(
        self,
        request: ChatRequested,
        served: ServedModel,
        conversation: dict,
        user_doc: dict,
        outcome: Outcome,
        sources: list[dict],
        stream: ReplyStream,
    ) -> None:
        reply_doc = reply_document(request, user_doc, outcome, sources, served.name)
        if not await self.store.insert_message(reply_doc):
            reply_doc = await self.store.get_message(request.reply_id) or reply_doc
        if await self._deleted_meanwhile(request, stream):
            return
        await asyncio.gather(
            self.recent_turns.append(request.conversation_id, [turn_of(user_doc), turn_of(reply_doc)]),
            self._finish(request, reply_doc, stream),
        )
        metrics.REPLIES.labels(outcome.status).inc()
        metrics.COMPLETION_TOKENS.inc(outcome.completion_tokens)
        if outcome.ttft_ms is not None:
            metrics.TTFT.observe(outcome.ttft_ms / 1000)
        if not conversation.get("title") and outcome.status == "completed":
            await self._title(request)

    async def _deleted_meanwhile(self, request: ChatRequested, stream: ReplyStream) -> bool:
        """Was the conversation deleted while its reply was generated? Then take back what this
        request stored, announce nothing and end the stream.

        Checked after our inserts: a delete that removed the conversation before this read sees
        it missing here, and one after it deletes the messages after our inserts. A context cache
        written back past the delete's `forget` ends with its TTL."""
        if await self.store.conversation_by_id(request.conversation_id) is not None:
            return False
        await self.store.delete_messages(request.user_id, request.conversation_id)
        await self.recent_turns.forget(request.conversation_id)
        await self._end_with_error(
            request, stream, "conversation_not_found", "The conversation no longer exists."
        )
        log.info("conversation deleted mid-reply", extra={"reply_id": request.reply_id})
        return True

    async def _look_up(self, request: ChatRequested, stream: ReplyStream, *, reply_id: str) -> tuple | None:
        """(conversation, the reply `reply_id`, the user's message, whether the stream has tokens
        since its last reset, whether a stop was asked, the message named by `edit_of` or
        `parent_id`, the recent turns), read concurrently; None once the stream is ended because
        the conversation is gone. Another user's conversation, reply or message is an invalid
        request (their ids are the backend's); a named message of theirs is just not found."""
        named = request.edit_of or request.parent_id
        found = await asyncio.gather(
            self.store.conversation_by_id(request.conversation_id),
            # Two look-ups by `_id`, not one `$in`: FerretDB scans the collection for `$in`
            # (41 ms against 0.6 ms with 1,000 messages; docs/performance.md).
            self.store.get_message(reply_id),
            self.store.get_message(request.message_id),
            stream.has_tokens_since_reset(),
            stop_requested(self.redis, request.reply_id),
            self.store.get_message(named, request.user_id) if named else _noop(),
            self.recent_turns.load(request.user_id, request.conversation_id),
        )
        conversation, reply, user_doc = found[:3]
        if conversation is None:
            # The backend checked it exists before publishing: it was deleted since. Not poison.
            await self._end_with_error(
                request, stream, "conversation_not_found", "The conversation no longer exists."
            )
            return None
        for doc, what in ((conversation, "conversation"), (reply, "reply"), (user_doc, "message")):
            if doc is not None and doc.get("user_id") != request.user_id:
                raise InvalidRequest(f"{what} belongs to another user")
        return found

    async def _parent(
        self,
        request: ChatRequested,
        conversation: dict,
        named: dict | None,
        turns: list[Turn],
        stream: ReplyStream,
    ) -> str | object | None:
        """The parent of a new user message: the message named by `parent_id`, the parent of the one
        named by `edit_of` (a new version of it), else the end of the conversation's current
        branch. `_FAILED` once the reply has failed because the named message is not in this
        conversation: nothing is stored then."""
        if request.edit_of is None and request.parent_id is None:
            return end_of_branch([t.node() for t in turns], conversation.get("current_leaf"))
        if (
            named is None
            or named["conversation_id"] != request.conversation_id
            or (request.edit_of is not None and named["role"] != "user")
        ):
            message = "The message to follow or edit is not in this conversation."
            await self._end_with_error(request, stream, "message_not_found", message)
            return _FAILED
        if request.parent_id is not None:
            return named["_id"]
        if "parent_id" in named:
            return named["parent_id"]
        # Stored before the tree: its parent is derived from the whole conversation.
        skeleton = await self.store.skeleton(request.user_id, request.conversation_id)
        return Tree.of(skeleton).parent(named["_id"])

    async def _continue(self, request: ChatRequested) -> None:
        """The model gets the conversation up to the reply with the reply's text as the last
        (assistant) turn and goes on writing it; the new text streams under `request.reply_id`
        and is appended to the reply, whose updated message ends the stream. Made safe to run
        again like a reply: a continuation already applied only finishes its stream and is
        announced again, a half-streamed one is withdrawn with `reset` and generated again."""
        assert request.continue_of is not None
        started = time.perf_counter()
        stream = ReplyStream(self.redis, request.reply_id)
        found = await self._look_up(request, stream, reply_id=request.continue_of)
        if found is None:
            return
        conversation, reply, user_doc, half_streamed, cancelled, _, turns = found
        if reply is None or user_doc is None or reply.get("reply_to") != request.message_id:
            await self._end_with_error(request, stream, "reply_not_found", "The reply no longer exists.")
            return
        if request.reply_id in [c["id"] for c in reply.get("continued_by", [])]:
            await self._redeliver_stored(request, reply, stream)
            return
        served = await self._conversation_model(request, conversation, stream)
        if served is None:
            return
        chosen = reply_settings(self.settings, conversation, served)
        if half_streamed:
            await stream.add(RESET, {})
            metrics.RESETS.inc()
        if cancelled:
            outcome = Outcome(content="", status="stopped")
        else:
            history = await self.recent_turns.branch_before(
                request.user_id, request.conversation_id, turns, turn_of(user_doc)
            )
            parts = PromptParts(
                chosen.system_prompt,
                user_doc["content"],
                history,
                sources=reply.get("sources") or [],
                partial_reply=reply.get("content", ""),
            )
            messages = await build_messages_off_loop(
                parts,
                context_tokens=served.context_tokens,
                max_tokens=chosen.max_tokens,
                count=served.provider.count_tokens,
            )
            outcome = await generate(
                self.settings, self.redis, served.provider, request.reply_id, messages, stream,
                max_tokens=chosen.max_tokens, temperature=chosen.temperature,
            )  # fmt: skip
        outcome.latency_ms = (time.perf_counter() - started) * 1000
        continuation = continuation_of(request.reply_id, outcome)
        stored = await self.store.continue_reply(reply, continuation, continued_reply(reply, outcome))
        # Not applied: done by an earlier attempt, or another continuation came first (its text wins).
        stored = stored or await self.store.get_message(reply["_id"]) or reply
        if await self._deleted_meanwhile(request, stream):
            return
        # The cached turn holds the text before the continuation: read the turns afresh next time.
        await asyncio.gather(
            self.recent_turns.forget(request.conversation_id), self._finish(request, stored, stream)
        )
        metrics.REPLIES.labels(outcome.status).inc()
        metrics.COMPLETION_TOKENS.inc(outcome.completion_tokens)

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
            await release_slot(self.redis, request.user_id, request.reply_id)
            return
        served = await self._served_model(request, stream)
        if served is None:
            return
        max_tokens = params.max_tokens or served.max_tokens
        temperature = self.settings.llm_temperature if params.temperature is None else params.temperature
        if await stream.has_tokens_since_reset():
            await stream.add(RESET, {})
            metrics.RESETS.inc()
        started = time.perf_counter()
        if await stop_requested(self.redis, request.reply_id):
            outcome = Outcome(content="", status="stopped")
        else:
            plan = structured.plan(params, served.provider.native_tools)
            # Tokenizing up to a whole context window of text: off the event loop.
            messages = await asyncio.to_thread(
                fit_messages,
                plan.messages,
                context_tokens=served.context_tokens,
                max_tokens=max_tokens,
                count=served.provider.count_tokens,
            )
            outcome = await generate(
                self.settings,
                self.redis,
                served.provider,
                request.reply_id,
                messages,
                stream,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=params.stop,
                seed=structured.seed(params, seed_of(request.reply_id)),
                options=plan.options,
                hold=plan.tools_as_json,
            )
            if outcome.status == "completed":
                answer = structured.answer(
                    params, plan, outcome.content, outcome.finish_reason, outcome.tool_calls, request.reply_id
                )
                outcome.content, outcome.tool_calls, outcome.finish_reason = (
                    answer.content, answer.tool_calls, answer.finish_reason
                )  # fmt: skip
            elif plan.tools_as_json:
                outcome.content = ""  # half a call in the tool format is nothing to show
            if params.top_logprobs is None:
                outcome.logprobs = None
            elif outcome.logprobs is None:
                outcome.logprobs = []
        latency_ms = (time.perf_counter() - started) * 1000
        message = completion_message(request, outcome, latency_ms, served.name)
        await stream.end(DONE, {"message": message}, self.settings.reply_stream_ttl_s, request.user_id)
        metrics.REPLIES.labels(outcome.status).inc()
        metrics.COMPLETION_TOKENS.inc(outcome.completion_tokens)
        if outcome.ttft_ms is not None:
            metrics.TTFT.observe(outcome.ttft_ms / 1000)

    async def _finish(self, request: ChatRequested, reply_doc: dict, stream: ReplyStream) -> None:
        ttl_s = self.settings.reply_stream_ttl_s
        await stream.end(DONE, {"message": message_view(reply_doc)}, ttl_s, request.user_id)
        await self._announce(request, reply_doc)

    async def _announce(self, request: ChatRequested, reply_doc: dict) -> None:
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
                usage=announced_usage(request, reply_doc),
                trace_id=request.trace_id,
            )
        )

    async def _redeliver_stored(self, request: ChatRequested, reply_doc: dict, stream: ReplyStream) -> None:
        """The reply is stored already. If a crash came between storing and `done`, finish the
        stream now. Either way announce it again: the attempt before may have failed to publish
        after `done` (or crashed before), and no record says whether it did. Consumers of
        `chat.completed` are idempotent, so twice is harmless and never is not; redelivery of a
        stored reply is rare (a failed attempt, a crash, a replay), so this costs no write per reply."""
        if await stream.exists() and not await stream.has_terminal_event():
            log.info("finishing a stored reply after redelivery", extra={"reply_id": request.reply_id})
            await self._finish(request, reply_doc, stream)
            return
        await release_slot(self.redis, request.user_id, request.reply_id)
        await self._announce(request, reply_doc)

    async def _title(self, request: ChatRequested) -> None:
        title = await generate_title(
            self.models.default.provider, request.content, self.settings.title_max_tokens
        )
        await self.store.set_title_if_empty(request.user_id, request.conversation_id, title)


async def _noop() -> None:
    return None


_FAILED = object()
