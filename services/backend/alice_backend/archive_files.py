"""Exported conversations as files: Alice's JSON archive (`ConversationArchive`) or Markdown,
written one conversation at a time so that "export all" never holds every conversation at once."""

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

from alice_common import linear_re
from alice_common.wire import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    ArchivedConversation,
    ArchivedMessage,
    ChatSettings,
    iso_ms,
)

ExportFormat = Literal["json", "markdown"]
MEDIA_TYPES = {"json": "application/json", "markdown": "text/markdown; charset=utf-8"}
EXTENSIONS = {"json": "json", "markdown": "md"}
UNTITLED = "Untitled conversation"
_NOT_SLUG = linear_re.compile(r"[^a-z0-9]+")
ROLE_NAMES = {"user": "You", "assistant": "Alice"}
RATINGS = {"up": "👍", "down": "👎"}


def archive_json(conversations: list[ArchivedConversation], exported_at: datetime) -> str:
    return _head(exported_at) + ", ".join(_conversation_json(c) for c in conversations) + _TAIL


async def archive_json_stream(
    conversations: AsyncIterator[ArchivedConversation], exported_at: datetime
) -> AsyncIterator[str]:
    yield _head(exported_at)
    separator = ""
    async for conversation in conversations:
        yield separator + _conversation_json(conversation)
        separator = ", "
    yield _TAIL


_TAIL = "]}"


def _head(exported_at: datetime) -> str:
    head = {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "exported_at": iso_ms(exported_at)}
    return json.dumps(head)[:-1] + ', "conversations": ['


def _conversation_json(conversation: ArchivedConversation) -> str:
    # Fields at their default are left out, as before conversations had settings.
    unset = {"settings"} if conversation.settings == ChatSettings() else None
    return conversation.model_dump_json(exclude_none=True, exclude=unset)


def conversation_markdown(conversation: ArchivedConversation, level: int = 1) -> str:
    """A conversation as Markdown: its title as a heading at `level`, each message under a smaller
    one naming who wrote it and when."""
    heading = "#" * level
    facts = [f"Created {iso_ms(conversation.created_at)}", f"updated {iso_ms(conversation.updated_at)}"]
    facts += [
        flag for flag, on in (("pinned", conversation.pinned), ("archived", conversation.archived)) if on
    ]
    lines = [f"{heading} {_one_line(conversation.title) or UNTITLED}", "", f"*{' · '.join(facts)}*", ""]
    lines += _settings_markdown(conversation.settings)
    for message in conversation.messages:
        lines += _message_markdown(message, heading + "#")
    return "\n".join(lines)


def _settings_markdown(settings: ChatSettings) -> list[str]:
    """The chat settings the conversation chose (none: the server's defaults, no lines)."""
    chosen = (
        ("model", settings.model),
        ("temperature", settings.temperature),
        ("max tokens", settings.max_tokens),
    )
    named = [f"{name} {value}" for name, value in chosen if value is not None]
    lines = [f"*Settings: {' · '.join(named)}*", ""] if named else []
    if settings.system_prompt:
        lines += [f"> System prompt: {_one_line(settings.system_prompt)}", ""]
    return lines


def _message_markdown(message: ArchivedMessage, heading: str) -> list[str]:
    who = ROLE_NAMES[message.role]
    if message.model:
        who += f" ({message.model})"
    notes = [] if message.status == "completed" else [f" — {message.status}"]
    lines = [f"{heading} {who} · {iso_ms(message.created_at)}{''.join(notes)}", "", message.content, ""]
    if message.feedback is not None:
        rated = f"> Feedback: {RATINGS[message.feedback.rating]}"
        if message.feedback.comment:
            rated += f" {_one_line(message.feedback.comment)}"
        lines += [rated, ""]
    return lines


async def markdown_stream(conversations: AsyncIterator[ArchivedConversation]) -> AsyncIterator[str]:
    yield "# Alice conversations\n\n"
    async for conversation in conversations:
        yield conversation_markdown(conversation, level=2) + "\n"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def download_name(stem: str, title: str | None, format: ExportFormat, day: datetime) -> str:
    """A file name safe in any file system and in a quoted header: `alice-…-2026-01-31.md`."""
    slug = _NOT_SLUG.sub("-", (title or "").lower()).strip("-")[:60].strip("-")
    parts = [stem, slug] if slug else [stem]
    return f"{'-'.join(parts)}-{day.strftime('%Y-%m-%d')}.{EXTENSIONS[format]}"


def attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
