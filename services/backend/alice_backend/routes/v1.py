"""OpenAI-compatible `/v1/models` and `/v1/chat/completions`, for the official SDKs and chat UIs.

A completion takes Alice's own path: admitted by the user's limits, published to Kafka, generated
by an orchestrator, relayed from the reply stream. It therefore survives an orchestrator crash
like an app message does (see `openai_compat/relay.py` for what a client sees then). Requests are
stateless: nothing is stored but the reply stream, which expires like any other.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from alice_common.events import new_id
from alice_common.reply_stream import DONE, ReplyStream, request_stop
from alice_common.wire import ModelInfo
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from alice_backend.app_context import AppContext
from alice_backend.auth.dependencies import Ctx, UserId
from alice_backend.idempotency import IdempotencyKey, fingerprint
from alice_backend.openai_compat import admission, context_length, key_limits, relay
from alice_backend.openai_compat.errors import OpenAIError, error_body
from alice_backend.openai_compat.schemas import (
    ChatCompletion,
    ChatCompletionIn,
    Model,
    ModelList,
    openai_error_responses,
    validate,
)
from alice_backend.openai_compat.waiting import ClientGone
from alice_backend.replies import requesting, sse_relay
from alice_backend.served_models import served_models

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

OWNER = "alice"
# Cancels issued from a closed stream's cleanup, kept referenced until they ran.
_background: set[asyncio.Task] = set()


def _model(served: ModelInfo) -> Model:
    return Model(id=served.model, created=0, owned_by=OWNER)


@router.get("/models", response_model=ModelList, responses=openai_error_responses(401, 502, 503))
async def list_models(ctx: Ctx, _user_id: UserId) -> ModelList:
    return ModelList(data=[_model(served) for served in (await served_models(ctx)).models])


@router.get(
    "/models/{model:path}", response_model=Model, responses=openai_error_responses(401, 404, 502, 503)
)
async def retrieve_model(model: str, ctx: Ctx, _user_id: UserId) -> Model:
    served = (await served_models(ctx)).get(model)
    if served is None:
        raise OpenAIError(404, "model_not_found", f"The model '{model[:200]}' does not exist", "model")
    return _model(served)


def _usage(message: dict) -> dict:
    usage = message.get("usage") or {}
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish_reason(message: dict) -> str:
    reason = message.get("finish_reason")
    return reason if reason in ("length", "tool_calls") else "stop"


def _logprobs(message: dict) -> dict | None:
    """Present only when the request asked for them (the orchestrator then adds the list)."""
    content = message.get("logprobs")
    return None if content is None else {"content": content}


def _assistant(message: dict) -> dict:
    tool_calls = message.get("tool_calls")
    if tool_calls:
        return {
            "role": "assistant",
            "content": str(message.get("content") or "") or None,
            "tool_calls": tool_calls,
        }
    return {"role": "assistant", "content": str(message.get("content", ""))}


def _tool_call_deltas(message: dict) -> list[dict]:
    """Each call whole in one delta (they are parsed from the finished text): what the SDKs
    accumulate from `delta.tool_calls` works the same for one piece as for many."""
    return [{"index": index} | call for index, call in enumerate(message.get("tool_calls") or [])]


def _data(payload: dict) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _cancel(ctx: AppContext, reply_id: str) -> None:
    """Stop generating a reply nobody reads any more (frees the model and the user's slot).
    A task of its own: the response's own task is being cancelled."""
    task = asyncio.create_task(request_stop(ctx.redis, reply_id, ctx.settings.reply_meta_ttl_s))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _chunks(ctx: AppContext, reply_id: str, model: str, include_usage: bool) -> AsyncIterator[str]:
    base = {"id": f"chatcmpl-{reply_id}", "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = model

    def chunk(delta: dict, finish_reason: str | None = None, logprobs: dict | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
        return _data(base | {"choices": [choice]})

    ended = False
    entries = sse_relay.entries(ctx.reply_hub, reply_id, "0-0", ctx.settings.sse_heartbeat_s)
    try:
        yield chunk({"role": "assistant", "content": ""})
        async with aclosing(entries), aclosing(relay.answer_text(entries)) as pieces:
            async for piece in pieces:
                if isinstance(piece, relay.Heartbeat):
                    yield ": keep-alive\n\n"
                elif isinstance(piece, relay.Text):
                    yield chunk({"content": piece.delta})
                elif isinstance(piece, relay.Finished):
                    ended = True
                    if calls := _tool_call_deltas(piece.message):
                        yield chunk({"tool_calls": calls})
                    yield chunk({}, _finish_reason(piece.message), _logprobs(piece.message))
                    if include_usage:
                        yield _data(base | {"choices": [], "usage": _usage(piece.message)})
                    yield "data: [DONE]\n\n"
                    return
                else:  # relay.Failed: the SDKs raise an APIError for an `error` chunk
                    ended = True
                    yield _data(error_body(502, piece.message or "the reply failed", piece.code))
                    return
        ended = True
        yield _data(error_body(503, "the reply stream was interrupted; retry", "stream_interrupted"))
    finally:
        if not ended:
            _cancel(ctx, reply_id)


async def _complete(ctx: AppContext, reply_id: str, model: str) -> dict:
    entries = sse_relay.entries(ctx.reply_hub, reply_id, "0-0", ctx.settings.sse_heartbeat_s)
    try:
        async with asyncio.timeout(ctx.settings.active_generation_ttl_s), aclosing(entries):
            async for entry_id, event, data in entries:
                if entry_id is None:
                    continue
                if event == DONE:
                    message = json.loads(data).get("message") or {}
                    choice = {
                        "index": 0,
                        "message": _assistant(message),
                        "logprobs": _logprobs(message),
                        "finish_reason": _finish_reason(message),
                    }
                    return {
                        "id": f"chatcmpl-{reply_id}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": message.get("model") or model,
                        "choices": [choice],
                        "usage": _usage(message),
                    }
                if event == sse_relay.FAILED:
                    failure = json.loads(data)
                    raise OpenAIError(
                        502, str(failure.get("code", "generation_failed")), str(failure.get("message", ""))
                    )
    except TimeoutError as exc:
        _cancel(ctx, reply_id)
        raise OpenAIError(504, "timeout", "the reply took too long; it was stopped") from exc
    raise OpenAIError(503, "stream_interrupted", "the reply stream was interrupted; retry")


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "a chat.completion, or with `stream: true` chat.completion.chunk events",
        },
        **openai_error_responses(400, 401, 404, 409, 413, 422, 429, 502, 503, 504),
    },
)
async def chat_completions(
    body: ChatCompletionIn,
    ctx: Ctx,
    user_id: UserId,
    key: IdempotencyKey,
    http: Request,
    caller: key_limits.CallerKey,
):
    served = (await served_models(ctx)).get(body.model)
    if served is None:
        raise OpenAIError(
            404, "model_not_found",
            f"The model '{body.model}' does not exist; GET /v1/models lists what this server serves",
            "model",
        )  # fmt: skip
    completion = validate(body, served.max_tokens_limit)
    await context_length.require_fit(ctx, served, completion)
    subject = key_limits.subject_of(ctx, user_id, caller)

    async def start(ids: dict, attempt: requesting.Attempt) -> None:
        await requesting.request_completion(
            ctx,
            user_id=user_id,
            completion=completion,
            model=served.model,
            reply_id=ids["reply_id"],
            message_id=ids["message_id"],
            attempt=attempt,
            subject=subject,
        )

    # A retry with the key gets the first attempt's reply: its stream, or its completion.
    request = fingerprint("completion", body.model_dump(mode="json"))
    fresh = {"reply_id": new_id(), "message_id": new_id()}

    async def accept() -> str:
        ids, replayed = await requesting.once(ctx, user_id, key, request, fresh, start)
        if replayed and not await ReplyStream(ctx.redis, ids["reply_id"]).exists():
            # Nothing but the stream holds a completion, and it expires after REPLY_STREAM_TTL_S.
            message = "the completion made for this Idempotency-Key has expired"
            raise OpenAIError(404, "reply_expired", message)
        if not replayed:
            await key_limits.record_request(ctx, caller)
        return ids["reply_id"]

    # Over the cap, the request waits its turn (`openai_compat/admission.py`).
    admitted = await admission.admit(ctx, subject, fresh["reply_id"], accept)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def relayed(reply_id: str) -> AsyncIterator[str]:
        return key_limits.counted(ctx, caller, reply_id, _chunks(ctx, reply_id, served.model, include_usage))

    if body.stream:
        if isinstance(admitted, admission.Waiting):
            chunks = admission.keep_alive_until_admitted(admitted, relayed)
        else:
            chunks = relayed(admitted)
        return StreamingResponse(chunks, media_type="text/event-stream", headers=sse_relay.SSE_HEADERS)
    if isinstance(admitted, admission.Waiting):
        try:
            admitted = await admitted.admitted(http.is_disconnected)
        except ClientGone:
            return Response(status_code=499)  # nobody reads it
    completed = await _complete(ctx, admitted, served.model)
    await key_limits.record_tokens(ctx, caller, completed["usage"])
    return completed
