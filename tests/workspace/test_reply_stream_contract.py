"""The public reply-stream event names are a contract with every client: the ones
`alice_common.reply_stream` writes must be exactly the ones docs/api.md documents and the browser
client handles. Tests elsewhere use the module's constants, so this is the one place a rename of
an event is caught."""

import re
from pathlib import Path

from alice_common import reply_stream

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_EVENTS = {
    reply_stream.STATUS,
    reply_stream.TOKEN,
    reply_stream.RESET,
    reply_stream.DONE,
    reply_stream.FAILED,
}


def documented_events() -> set[str]:
    """The first column of the event table under "Reply stream" in docs/api.md."""
    doc = (ROOT / "docs" / "api.md").read_text()
    section = doc.split("## Reply stream", 1)[1].split("\n## ", 1)[0]
    table = section.split("| event | data |", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", table, re.M))


def browser_handled_events() -> set[str]:
    source = (ROOT / "frontend" / "src" / "api" / "replyStream.ts").read_text()
    return set(re.findall(r"case '(\w+)':", source))


def test_the_documented_events_are_the_ones_the_services_write() -> None:
    assert documented_events() == PUBLIC_EVENTS


def test_the_browser_client_handles_every_event() -> None:
    assert browser_handled_events() == PUBLIC_EVENTS


def test_the_failure_event_is_never_named_error() -> None:
    # EventSource fires its own `error` on every dropped connection (docs/api.md).
    assert "error" not in PUBLIC_EVENTS
