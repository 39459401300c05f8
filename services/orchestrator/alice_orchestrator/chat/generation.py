"""The generation loop: the model streamed into the reply stream until it ends or is stopped."""

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis
from alice_common import linear_re
from alice_common.reply_stream import GENERATING, QUEUED, STATUS, ReplyStream
from alice_common.wire import ReplyStatus

from alice_orchestrator.chat.token_coalescer import TokenCoalescer
from alice_orchestrator.providers.base import ChatProvider, Generation
from alice_orchestrator.settings import Settings
from alice_orchestrator.stop_watch import stop_watch


@dataclass
class Outcome:
    content: str
    status: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
    first_token_at: float | None = None
    latency_ms: float = 0.0
    # "length": the reply reached its max tokens (it can be continued); "stop": the model ended
    # it; None: it was stopped by its user.
    finish_reason: str | None = None
    # App replies: turns of the conversation left out of the prompt to fit the model's context.
    left_out_turns: int = 0
    # `/v1` only, when the model gave them (providers/base.py, `extra`).
    tool_calls: list[dict] | None = None
    logprobs: list[dict] | None = None


GENERATING_STATUS = ReplyStatus(state=GENERATING)
_HEX8 = linear_re.compile(r"^[0-9a-f]{8}")


def seed_of(reply_id: str) -> int | None:
    """A seed derived from the reply id: a retry after a crash generates the same text, which is
    what lets the backend continue an OpenAI stream the client has half received."""
    return int(reply_id[:8], 16) if _HEX8.match(reply_id) else None


async def generate(
    settings: Settings,
    redis: aioredis.Redis,
    provider: ChatProvider,
    reply_id: str,
    messages: list[dict],
    stream: ReplyStream,
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    stop: list[str] | None = None,
    seed: int | None = None,
    options: dict | None = None,
    hold: bool = False,
) -> Outcome:
    """Stream the model into the reply stream until it ends or `cancel:{reply_id}` appears.
    `hold`: keep the text out of the stream (JSON that is parsed once it is complete).

    The stream says `status generating` once the model takes the request up; before that, while
    it waits for a model instance, `status queued` with its place in line, on every change."""
    coalescer = TokenCoalescer(stream, settings.token_flush_interval_ms / 1000)

    async def on_queue(position: int) -> None:
        # Called from within the generation's iteration, before its first delta: never
        # interleaved with the coalescer's token writes.
        status = ReplyStatus(state=QUEUED, position=position) if position else GENERATING_STATUS
        await stream.add(STATUS, status.data())

    if not provider.queues_requests:
        await stream.add(STATUS, GENERATING_STATUS.data())
    max_tokens = max_tokens or settings.llm_max_tokens
    generation = provider.stream(
        messages,
        max_tokens=max_tokens,
        temperature=settings.llm_temperature if temperature is None else temperature,
        stop=stop,
        seed=seed,
        on_queue=on_queue if provider.queues_requests else None,
        options=options,
    )
    held: list[str] = []

    async def pump() -> None:
        async for delta in generation:
            if hold:
                held.append(delta)
            else:
                coalescer.add(delta)

    pump_task = asyncio.create_task(pump())
    status = "completed"
    watch = stop_watch(redis, settings.cancel_poll_interval_ms / 1000)
    stop_wait = asyncio.create_task(watch.watch(reply_id).wait())
    try:
        done, _ = await asyncio.wait({pump_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if pump_task in done:
            pump_task.result()
        else:
            status = "stopped"
            pump_task.cancel()
            await asyncio.gather(pump_task, return_exceptions=True)
    except BaseException:
        # A failed attempt must not leave a write in flight that could land after the
        # next attempt's `reset`.
        await asyncio.gather(coalescer.close(), return_exceptions=True)
        raise
    finally:
        watch.forget(reply_id)
        stop_wait.cancel()
        if not pump_task.done():
            pump_task.cancel()
            await asyncio.gather(pump_task, return_exceptions=True)
        await generation.aclose()
    await coalescer.close()
    return Outcome(
        "".join(held) if hold else coalescer.content,
        status,
        generation.prompt_tokens,
        generation.completion_tokens,
        generation.ttft_ms,
        coalescer.first_write_at,
        finish_reason=finish_reason_of(generation, status, max_tokens),
        tool_calls=generation.extra.get("tool_calls"),
        logprobs=generation.extra.get("logprobs"),
    )


def finish_reason_of(generation: Generation, status: str, max_tokens: int) -> str | None:
    """The provider's word for why the model ended; without one, whether it used all its tokens."""
    if status != "completed":
        return None
    if generation.finish_reason in ("length", "stop", "tool_calls"):
        return generation.finish_reason
    return "length" if generation.completion_tokens >= max_tokens else "stop"
