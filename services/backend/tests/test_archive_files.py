"""The export files themselves: the JSON archive an import reads back, Markdown for people, and
file names safe to offer as a download."""

import json
from datetime import UTC, datetime

from alice_backend.archive_files import archive_json, conversation_markdown, download_name, markdown_stream
from alice_common.wire import ArchivedConversation, ConversationArchive

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def _conversation(**fields) -> ArchivedConversation:
    messages = [
        {"id": "m1", "role": "user", "content": "What is **2+2**?", "created_at": WHEN},
        {
            "id": "m2",
            "role": "assistant",
            "content": "It is 4.\n\n## Not a message heading",
            "created_at": WHEN,
            "model": "test-model",
            "feedback": {"rating": "up", "comment": "nice\nand short", "updated_at": WHEN},
        },
        {"role": "assistant", "content": "partial", "status": "stopped", "created_at": WHEN},
    ]
    defaults = {"id": "c1", "title": "Sums", "created_at": WHEN, "updated_at": WHEN, "messages": messages}
    return ArchivedConversation.model_validate(defaults | fields)


def test_the_json_archive_reads_back_as_the_same_conversations():
    chosen = {"model": "m", "system_prompt": "Be brief.", "temperature": 0.2, "max_tokens": 64}
    conversations = [
        _conversation(settings=chosen),
        _conversation(title=None, pinned=True, archived=True, messages=[]),
    ]
    text = archive_json(conversations, WHEN)
    document = json.loads(text)
    assert (document["format"], document["version"], document["exported_at"]) == (
        "alice.conversations",
        1,
        "2026-03-04T05:06:07.890Z",
    )
    assert "user_id" not in text and "null" not in text  # absent fields are left out
    assert ConversationArchive.model_validate_json(text).conversations == conversations


def test_markdown_names_the_conversation_each_speaker_the_model_and_the_feedback():
    text = conversation_markdown(_conversation(pinned=True))
    assert text.startswith(
        "# Sums\n\n*Created 2026-03-04T05:06:07.890Z · updated 2026-03-04T05:06:07.890Z · pinned*"
    )
    assert "## You · 2026-03-04T05:06:07.890Z\n\nWhat is **2+2**?\n" in text
    assert (
        "## Alice (test-model) · 2026-03-04T05:06:07.890Z\n\nIt is 4.\n\n## Not a message heading\n" in text
    )
    assert "> Feedback: 👍 nice and short\n" in text
    assert "## Alice · 2026-03-04T05:06:07.890Z — stopped\n\npartial\n" in text
    untitled = conversation_markdown(_conversation(title="  ", messages=[]), level=2)
    assert untitled.startswith("## Untitled conversation\n")


async def test_markdown_of_all_puts_each_conversation_under_one_heading():
    async def two():
        yield _conversation(title="One")
        yield _conversation(title="Two")

    text = "".join([part async for part in markdown_stream(two())])
    assert text.startswith("# Alice conversations\n\n## One\n")
    assert "\n## Two\n" in text and "\n### You · " in text


def test_download_names_are_plain_ascii_whatever_the_title():
    assert download_name("alice-conversation", 'Ünïcode "quotes"/..\\evil\r\n', "markdown", WHEN) == (
        "alice-conversation-n-code-quotes-evil-2026-03-04.md"
    )
    assert download_name("alice-conversations", None, "json", WHEN) == "alice-conversations-2026-03-04.json"
    assert len(download_name("alice-conversation", "x" * 500, "json", WHEN)) < 100


def test_markdown_names_the_chat_settings_a_conversation_chose_and_nothing_for_the_defaults():
    chosen = {"model": "m", "system_prompt": "Be\nbrief.", "temperature": 0.2}
    text = conversation_markdown(_conversation(settings=chosen))
    assert "*Settings: model m · temperature 0.2*" in text
    assert "> System prompt: Be brief." in text
    assert "Settings" not in conversation_markdown(_conversation())
