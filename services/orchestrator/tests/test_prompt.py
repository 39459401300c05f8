import asyncio
import time

from alice_orchestrator.prompt import (
    PromptParts,
    Turn,
    build_messages,
    build_messages_off_loop,
    fit_messages,
    left_out_turns,
    system_message,
    truncate_to_tokens,
)


def count_words(text: str) -> int:
    return len(text.split())


def turns(n: int) -> list[Turn]:
    out = []
    for i in range(n):
        out.append(
            Turn(
                id=f"u{i}",
                role="user",
                content=f"question {i} " * 5,
                created_at=f"2026-01-01T00:{i:02d}:00.000Z",
            )
        )
        out.append(
            Turn(
                id=f"a{i}",
                role="assistant",
                content=f"answer {i} " * 5,
                created_at=f"2026-01-01T00:{i:02d}:30.000Z",
                reply_to=f"u{i}",
            )
        )
    return out


def test_keeps_the_most_recent_turns_that_fit_and_always_the_system_and_user_message():
    parts = PromptParts("be nice", "the new question", turns(10))
    # Each old turn costs 10 words + 4 overhead = 14; system 2+4, user 3+4; margin 16.
    messages = build_messages(
        parts, context_tokens=16 + 6 + 7 + 14 * 4 + 20, max_tokens=20, count=count_words
    )
    assert messages[0] == {"role": "system", "content": "be nice"}
    assert messages[-1] == {"role": "user", "content": "the new question"}
    history = messages[1:-1]
    assert [m["content"].split()[1] for m in history] == ["8", "8", "9", "9"]
    assert history[0]["role"] == "user"


def test_the_turns_left_out_to_fit_are_counted_for_the_note_under_the_reply():
    parts = PromptParts("be nice", "the new question", turns(10))
    fitting = build_messages(parts, context_tokens=16 + 6 + 7 + 14 * 4 + 20, max_tokens=20, count=count_words)
    assert left_out_turns(parts, fitting) == 20 - 4
    everything = build_messages(parts, context_tokens=10_000, max_tokens=20, count=count_words)
    assert left_out_turns(parts, everything) == 0
    continuing = PromptParts("be nice", "the new question", turns(2), partial_reply="so far")
    kept = build_messages(continuing, context_tokens=10_000, max_tokens=20, count=count_words)
    assert left_out_turns(continuing, kept) == 0


def test_history_never_starts_with_an_orphan_assistant_turn():
    parts = PromptParts("s", "q", turns(3))
    # Room for exactly three old turns: the oldest of them would be an assistant reply.
    messages = build_messages(
        parts, context_tokens=16 + 5 + 5 + 14 * 3 + 10, max_tokens=10, count=count_words
    )
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]


def test_an_oversized_user_message_is_cut_to_fit():
    parts = PromptParts("s", "word " * 5000, [])
    messages = build_messages(parts, context_tokens=200, max_tokens=50, count=count_words)
    assert 0 < count_words(messages[-1]["content"]) <= 200 - 50
    assert len(messages) == 2


def test_truncate_to_tokens():
    assert truncate_to_tokens("a b c d", 2, count_words) == "a b "
    assert truncate_to_tokens("a b", 5, count_words) == "a b"
    assert truncate_to_tokens("a b", 0, count_words) == ""


def test_sources_and_memories_are_numbered_in_the_system_message():
    parts = PromptParts(
        "You are Alice.",
        "q",
        sources=[
            {"filename": "a.md", "snippet": "alpha"},
            {"filename": "b.pdf", "snippet": "short", "prompt_text": "beta"},
        ],
        memories=["The user said: I like tea"],
    )
    text = system_message(parts)
    assert "[1] (a.md) alpha" in text
    assert "[2] (b.pdf) beta" in text
    assert "- The user said: I like tea" in text
    assert text.startswith("You are Alice.")


async def test_building_a_long_prompt_does_not_stall_the_event_loop():
    """Counting tokens is CPU work (llama.cpp's tokenizer over up to 40 long turns): other
    replies keep streaming while one prompt is built."""

    def slow_count(text: str) -> int:
        time.sleep(0.02)  # stands in for tokenising a long turn; holds this thread, not the loop
        return len(text) // 4

    history = [
        Turn(id=str(i), role="user" if i % 2 == 0 else "assistant", content="x" * 400) for i in range(20)
    ]
    parts = PromptParts("Be brief.", "question " * 100, history)
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    messages = await build_messages_off_loop(parts, context_tokens=2048, max_tokens=256, count=slow_count)
    ticking.cancel()
    assert messages[-1]["role"] == "user"
    assert len(gaps) > 10 and max(gaps) < 0.1, f"the loop stalled for {max(gaps):.3f} s"


def test_fit_messages_keeps_system_and_last_and_drops_the_oldest_turns_first():
    messages = [{"role": "system", "content": "be nice"}]
    for i in range(20):
        messages.append({"role": "user", "content": f"question {i} " * 5})
        messages.append({"role": "assistant", "content": f"answer {i} " * 5})
    messages.append({"role": "user", "content": "last one"})
    # budget 200 - 50 - 16 = 134; system 2+4, last 2+4: 122 left for turns of 14 words each.
    fitted = fit_messages(messages, context_tokens=200, max_tokens=50, count=count_words)
    assert fitted[0] == messages[0] and fitted[-1] == messages[-1]
    assert fitted[1:-1] == messages[-9:-1]
    assert fit_messages(messages[-1:], context_tokens=200, max_tokens=50, count=count_words) == messages[-1:]


def test_fit_messages_cuts_an_oversized_last_message_and_system_prompt():
    huge = "word " * 1000
    fitted = fit_messages(
        [{"role": "system", "content": huge}, {"role": "user", "content": huge}],
        context_tokens=200,
        max_tokens=50,
        count=count_words,
    )
    total = sum(count_words(m["content"]) + 4 for m in fitted)
    assert [m["role"] for m in fitted] == ["system", "user"]
    assert total <= 200 - 50 - 16 and count_words(fitted[1]["content"]) > 0


def test_a_partial_reply_to_continue_is_the_last_message_and_within_the_budget():
    history = [Turn(id=f"t{i}", role=("user", "assistant")[i % 2], content="word " * 100) for i in range(20)]
    partial = "Once upon a time " * 40
    without = build_messages(
        PromptParts("sys", "Tell a story", history), context_tokens=2048, max_tokens=256, count=count_words
    )
    parts = PromptParts("sys", "Tell a story", history, partial_reply=partial)
    messages = build_messages(parts, context_tokens=2048, max_tokens=256, count=count_words)
    assert messages[-2:] == [
        {"role": "user", "content": "Tell a story"},
        {"role": "assistant", "content": partial},
    ]
    assert len(messages) <= len(without)  # an older turn made room for the partial reply
