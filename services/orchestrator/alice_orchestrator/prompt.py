"""Building the model's input: system prompt, sources, memory, recent turns within a token budget."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from alice_orchestrator.providers.base import ChatMessage

# Chat templates add a few tokens around every message (role markers, separators).
PER_MESSAGE_OVERHEAD = 4
# Never let the history squeeze the reply below this many tokens of context.
SAFETY_MARGIN = 16

TokenCounter = Callable[[str], int]


@dataclass
class Turn:
    id: str
    role: str
    content: str
    created_at: str = ""
    reply_to: str | None = None
    status: str = "completed"
    # The message's place in the tree (`tree.py`); `parent_known` False: stored before the tree.
    parent_id: str | None = None
    parent_known: bool = False

    def to_json(self) -> dict:
        data = {
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "created_at": self.created_at,
            "reply_to": self.reply_to,
            "status": self.status,
        }
        return data | ({"parent_id": self.parent_id} if self.parent_known else {})

    @classmethod
    def from_json(cls, data: dict) -> "Turn":
        return cls(
            **{k: data.get(k) for k in ("id", "role", "content", "created_at", "reply_to")},
            status=data.get("status") or "completed",
            parent_id=data.get("parent_id"),
            parent_known="parent_id" in data,
        )

    def node(self) -> dict:
        """As `tree.with_parents` reads a message."""
        node = {"_id": self.id, "role": self.role, "reply_to": self.reply_to, "created_at": self.created_at}
        return node | ({"parent_id": self.parent_id} if self.parent_known else {})

    @property
    def usable(self) -> bool:
        """Worth a place in the prompt: not an empty or failed reply."""
        return self.role == "user" or bool(self.content and self.status != "failed")


@dataclass
class PromptParts:
    system_prompt: str
    user_content: str
    history: list[Turn] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)  # {filename, snippet} numbered in order
    memories: list[str] = field(default_factory=list)
    # A reply cut at its length limit, to be continued: the last (assistant) message.
    partial_reply: str = ""


def truncate_to_tokens(text: str, max_tokens: int, count: TokenCounter) -> str:
    if max_tokens <= 0:
        return ""
    if count(text) <= max_tokens:
        return text
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if count(text[:mid]) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return text[:low]


def system_message(parts: PromptParts) -> str:
    sections = [parts.system_prompt.strip()]
    if parts.sources:
        lines = ["Answer using these sources from the user's documents and cite them by number, like [1]."]
        for number, source in enumerate(parts.sources, start=1):
            text = source.get("prompt_text") or source.get("snippet") or ""
            lines.append(f"[{number}] ({source.get('filename') or 'document'}) {text}")
        sections.append("\n".join(lines))
    if parts.memories:
        lines = ["From the user's earlier conversations:"]
        lines.extend(f"- {memory}" for memory in parts.memories)
        sections.append("\n".join(lines))
    return "\n\n".join(s for s in sections if s)


def build_messages(
    parts: PromptParts, *, context_tokens: int, max_tokens: int, count: TokenCounter
) -> list[ChatMessage]:
    """System message, then as many of the most recent turns as fit, then the user's message (and
    the partial reply being continued, if any).

    Budget: `context_tokens` minus the reply's `max_tokens`; the system message and the user's
    message are always kept (the user's message is cut if it alone would not fit).
    """
    budget = context_tokens - max_tokens - SAFETY_MARGIN
    partial = [{"role": "assistant", "content": parts.partial_reply}] if parts.partial_reply else []
    if parts.partial_reply:
        budget -= count(parts.partial_reply) + PER_MESSAGE_OVERHEAD
    system = system_message(parts)
    budget -= count(system) + PER_MESSAGE_OVERHEAD
    user_content = truncate_to_tokens(parts.user_content, budget - PER_MESSAGE_OVERHEAD, count)
    budget -= count(user_content) + PER_MESSAGE_OVERHEAD
    kept: list[ChatMessage] = []
    for turn in reversed(parts.history):
        cost = count(turn.content) + PER_MESSAGE_OVERHEAD
        if cost > budget:
            break
        budget -= cost
        kept.append({"role": turn.role, "content": turn.content})
    kept.reverse()
    # Chat templates expect turns to start with the user; drop a leading orphan reply.
    while kept and kept[0]["role"] == "assistant":
        kept.pop(0)
    return [{"role": "system", "content": system}, *kept, {"role": "user", "content": user_content}, *partial]


def left_out_turns(parts: PromptParts, messages: list[ChatMessage]) -> int:
    """How many turns of the conversation's history `build_messages` had to leave out to fit."""
    kept = len(messages) - 2 - (1 if parts.partial_reply else 0)  # the system and user messages
    return max(0, len(parts.history) - kept)


async def build_messages_off_loop(
    parts: PromptParts, *, context_tokens: int, max_tokens: int, count: TokenCounter
) -> list[ChatMessage]:
    """`build_messages` in a worker thread: tokenising a long history (up to 40 turns of 16,000
    characters, and a binary search to cut the user's message) must not stall the event loop
    that streams every other reply."""
    return await asyncio.to_thread(
        build_messages, parts, context_tokens=context_tokens, max_tokens=max_tokens, count=count
    )


def fit_messages(
    messages: list[ChatMessage], *, context_tokens: int, max_tokens: int, count: TokenCounter
) -> list[ChatMessage]:
    """The messages of a stateless (OpenAI-compatible) request within the context window.

    System messages and the last message are always kept (the last one cut if it alone would not
    fit); the oldest of the others are dropped first.
    """
    if not messages:
        return []
    budget = context_tokens - max_tokens - SAFETY_MARGIN
    *earlier, last = messages
    systems = [m for m in earlier if m["role"] == "system"]
    # System messages may take at most half of the budget, shared equally when that is too little.
    share = budget // 2 // max(1, len(systems)) - PER_MESSAGE_OVERHEAD
    earlier = [
        {**m, "content": truncate_to_tokens(m["content"], share, count)} if m["role"] == "system" else m
        for m in earlier
    ]
    budget -= sum(count(m["content"]) + PER_MESSAGE_OVERHEAD for m in earlier if m["role"] == "system")
    last = {**last, "content": truncate_to_tokens(last["content"], budget - PER_MESSAGE_OVERHEAD, count)}
    budget -= count(last["content"]) + PER_MESSAGE_OVERHEAD
    kept_ids: set[int] = set()
    for index in range(len(earlier) - 1, -1, -1):
        message = earlier[index]
        if message["role"] == "system":
            continue
        cost = count(message["content"]) + PER_MESSAGE_OVERHEAD
        if cost > budget:
            break
        budget -= cost
        kept_ids.add(index)
    kept = [m for i, m in enumerate(earlier) if m["role"] == "system" or i in kept_ids]
    return [*kept, last]
