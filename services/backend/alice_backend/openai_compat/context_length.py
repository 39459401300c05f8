"""A `/v1` prompt that does not fit its model's context is refused before it is admitted: 400
`context_length_exceeded` naming the limit (the orchestrator counts with the model's own
tokenizer: `alice_orchestrator/prompt_size.py`), never silently cut."""

from alice_common.events import CompletionRequest
from alice_common.wire import ModelInfo, PromptSizeRequest

from alice_backend.app_context import AppContext
from alice_backend.errors import ApiError
from alice_backend.openai_compat.errors import OpenAIError


async def require_fit(ctx: AppContext, served: ModelInfo, completion: CompletionRequest) -> None:
    request = PromptSizeRequest(
        model=served.model,
        messages=[{"role": t.role, "content": t.content} for t in completion.messages],
        max_tokens=completion.max_tokens,
    )
    try:
        await ctx.orchestrator.prompt_size(request)
    except ApiError as exc:
        if exc.code == "context_length_exceeded":
            raise OpenAIError(400, exc.code, exc.message, "messages") from exc
        raise
