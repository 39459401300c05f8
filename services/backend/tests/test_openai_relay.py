"""What an OpenAI client is sent for each shape of reply stream, including retries (`reset`)."""

import json

from alice_backend.openai_compat import relay
from alice_common.reply_stream import FAILED, RESET, STATUS


async def _pieces(events: list[tuple[str, dict]]) -> list:
    async def entries():
        for i, (event, data) in enumerate(events):
            if event == "heartbeat":
                yield None, "", ""
            else:
                yield f"1-{i}", event, json.dumps(data)

    return [p async for p in relay.answer_text(entries())]


def _text(pieces) -> str:
    return "".join(p.delta for p in pieces if isinstance(p, relay.Text))


def token(delta: str) -> tuple[str, dict]:
    return "token", {"delta": delta}


def done(content: str) -> tuple[str, dict]:
    return "done", {"message": {"content": content}}


async def test_tokens_pass_through_and_the_end_is_finished():
    pieces = await _pieces([(STATUS, {}), token("He"), ("heartbeat", {}), token("llo"), done("Hello")])
    assert _text(pieces) == "Hello" and isinstance(pieces[-1], relay.Finished)
    assert any(isinstance(p, relay.Heartbeat) for p in pieces)


async def test_a_reset_before_any_text_is_invisible():
    pieces = await _pieces([(RESET, {}), token("Hi"), done("Hi")])
    assert _text(pieces) == "Hi" and isinstance(pieces[-1], relay.Finished)


async def test_a_retry_that_repeats_the_sent_text_continues_seamlessly():
    events = [
        token("The sea "),
        token("is"),
        (RESET, {}),
        token("The"),
        token(" sea is"),
        token(" blue"),
        done("The sea is blue"),
    ]
    pieces = await _pieces(events)
    assert _text(pieces) == "The sea is blue"
    assert isinstance(pieces[-1], relay.Finished)


async def test_a_retry_that_ends_while_catching_up_sends_the_rest_from_done():
    pieces = await _pieces([token("Hello"), (RESET, {}), token("Hel"), done("Hello there")])
    assert _text(pieces) == "Hello there" and isinstance(pieces[-1], relay.Finished)


async def test_a_retry_that_diverges_fails_instead_of_stitching_two_answers():
    pieces = await _pieces([token("The sea"), (RESET, {}), token("A mountain"), done("A mountain")])
    assert _text(pieces) == "The sea"
    assert pieces[-1] == relay.DIVERGED
    shorter = await _pieces([token("The sea is"), (RESET, {}), done("The")])
    assert shorter[-1] == relay.DIVERGED


async def test_failed_ends_with_its_code():
    pieces = await _pieces([token("x"), (FAILED, {"code": "generation_failed", "message": "no"})])
    assert pieces[-1] == relay.Failed("generation_failed", "no")
