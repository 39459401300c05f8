"""Whether a stateless (`/v1`) request fits its model's context, asked before it is admitted: a
prompt that does not fit is refused with 400 `context_length_exceeded` naming the limit, as
OpenAI answers, rather than cut (`prompt.fit_messages` still guards the generation itself)."""

import asyncio

from alice_common.errors import ApiError
from alice_common.wire import PromptSize, PromptSizeRequest
from fastapi import APIRouter

from alice_orchestrator.app_context import Ctx
from alice_orchestrator.prompt import PER_MESSAGE_OVERHEAD, SAFETY_MARGIN, TokenCounter
from alice_orchestrator.providers.registry import UnknownModel

router = APIRouter(prefix="/internal")


def prompt_tokens(messages: list[dict], count: TokenCounter) -> int:
    """The tokens `fit_messages` budgets for these messages."""
    return sum(count(m["content"]) + PER_MESSAGE_OVERHEAD for m in messages)


@router.post("/models/prompt-size", response_model=PromptSize)
async def prompt_size(body: PromptSizeRequest, ctx: Ctx) -> PromptSize:
    try:
        served = ctx.models.get(body.model)
    except UnknownModel as exc:
        raise ApiError(404, "model_not_found", f"the model '{body.model}' is not served") from exc
    max_tokens = body.max_tokens or served.max_tokens
    messages = [turn.model_dump() for turn in body.messages]
    # Tokenizing up to a whole context window of text: off the event loop.
    tokens = await asyncio.to_thread(prompt_tokens, messages, served.provider.count_tokens)
    if tokens + max_tokens + SAFETY_MARGIN > served.context_tokens:
        raise ApiError(
            400,
            "context_length_exceeded",
            f"This model's maximum context length is {served.context_tokens} tokens. However, you"
            f" requested {tokens + max_tokens + SAFETY_MARGIN} tokens ({tokens} in the messages,"
            f" {max_tokens} for the completion, {SAFETY_MARGIN} reserved). Please reduce the length"
            " of the messages or of the completion.",
        )
    return PromptSize(prompt_tokens=tokens, context_tokens=served.context_tokens, max_tokens=max_tokens)
