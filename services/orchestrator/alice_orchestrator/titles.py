"""Short conversation titles: asked of the model with a tight token limit, cleaned up, with a
fallback to the first words of the user's message when the model gives nothing usable."""

import asyncio

from alice_common import linear_re

from alice_orchestrator.providers.base import ChatProvider

MAX_TITLE_CHARS = 60
FALLBACK_WORDS = 6
_TITLE_PREFIX = linear_re.compile(r"(?i)^title\s*[:\-]\s*")
TITLE_INSTRUCTION = (
    "Write a title of at most five words for a conversation that starts with the message below. "
    "Reply with the title only."
)
# The title reads the start of the message only. Its prompt is a chore the inference server
# processes in one batch, and a reply that arrives meanwhile waits for that batch (llama-server
# cannot interrupt one): 1,000 characters made it about 250 tokens, 300 make it about 100.
TITLE_INPUT_CHARS = 300


def fallback_title(user_content: str) -> str:
    words = user_content.split()
    title = " ".join(words[:FALLBACK_WORDS])
    if len(words) > FALLBACK_WORDS:
        title += "…"
    return title[:MAX_TITLE_CHARS] or "New conversation"


def clean_title(raw: str) -> str:
    line = next((ln for ln in raw.strip().splitlines() if ln.strip()), "")
    line = _TITLE_PREFIX.sub("", line.strip(), count=1)
    line = line.strip().strip("\"'`*#").strip()
    line = " ".join(line.split()).rstrip(".:;,")
    if len(line) > MAX_TITLE_CHARS:
        line = line[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
    return line


def title_messages(user_content: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": TITLE_INSTRUCTION},
        {"role": "user", "content": user_content[:TITLE_INPUT_CHARS]},
    ]


async def generate_title(
    provider: ChatProvider, user_content: str, max_tokens: int = 16, timeout_s: float = 20.0
) -> str:
    messages = title_messages(user_content)

    async def ask() -> str:
        generation = provider.stream(messages, max_tokens=max_tokens, temperature=0.2, chore=True)
        parts: list[str] = []
        try:
            async for delta in generation:
                parts.append(delta)
        finally:
            await generation.aclose()
        return "".join(parts)

    try:
        title = clean_title(await asyncio.wait_for(ask(), timeout_s))
    except Exception:  # a title is a nicety: any model failure falls back to the user's words
        title = ""
    return title if len(title) >= 2 else fallback_title(user_content)
