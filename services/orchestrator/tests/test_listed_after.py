"""A new message's time against the message it follows (`chat/messages.py`)."""

from datetime import UTC, datetime, timedelta

from alice_orchestrator.chat.messages import listed_after

SENT = datetime(2026, 12, 7, 19, 0, 0, 123000, tzinfo=UTC)


def test_a_message_sent_after_what_it_follows_keeps_its_time():
    assert listed_after(SENT, SENT - timedelta(seconds=2)) == SENT
    assert listed_after(SENT, None) == SENT
    assert listed_after(SENT, "") == SENT


def test_a_message_stamped_before_what_it_follows_comes_one_millisecond_after_it():
    written = SENT + timedelta(milliseconds=900)
    assert listed_after(SENT, written) == written + timedelta(milliseconds=1)
    assert listed_after(SENT, written.replace(tzinfo=None)) == written + timedelta(
        milliseconds=1
    )  # as stored
    assert listed_after(SENT, "2026-12-07T19:00:01.023Z") == written + timedelta(milliseconds=1)  # cached
    assert listed_after(SENT, SENT) == SENT + timedelta(milliseconds=1)
