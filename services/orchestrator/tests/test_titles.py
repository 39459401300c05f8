from alice_orchestrator.providers.base import Generation
from alice_orchestrator.titles import TITLE_INPUT_CHARS, clean_title, fallback_title, generate_title


def test_clean_title_strips_quotes_prefixes_and_trailing_punctuation():
    assert clean_title('Title: "Planning a trip to Rome."\nmore text') == "Planning a trip to Rome"
    assert clean_title("  **Tea   brewing**  ") == "Tea brewing"
    long = clean_title("word " * 40)
    assert len(long) <= 61 and long.endswith("…")


def test_fallback_title_uses_the_first_words():
    assert fallback_title("How do I bake bread at home without yeast?") == "How do I bake bread at…"
    assert fallback_title("   ") == "New conversation"


class ScriptedProvider:
    model = "scripted"

    def __init__(self, text: str, fail: bool = False):
        self.text, self.fail = text, fail

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages, *, max_tokens, temperature, chore=False):
        self.chore, self.messages = chore, messages

        async def deltas():
            if self.fail:
                raise RuntimeError("model down")
            for word in self.text.split(" "):
                yield word + " "

        return Generation(deltas=deltas())


async def test_generate_title_uses_the_model_and_falls_back_when_it_fails_or_says_nothing():
    assert await generate_title(ScriptedProvider('"Baking bread"'), "How do I bake bread?") == "Baking bread"
    assert (
        await generate_title(ScriptedProvider("x", fail=True), "How do I bake bread?")
        == "How do I bake bread?"
    )
    assert await generate_title(ScriptedProvider("."), "Tell me about tea") == "Tell me about tea"


async def test_a_title_is_asked_for_as_a_chore_so_replies_go_first():
    provider = ScriptedProvider("Baking bread")
    await generate_title(provider, "How do I bake bread?")
    assert provider.chore is True


async def test_a_title_reads_only_the_start_of_a_long_message():
    provider = ScriptedProvider("Packing for Portugal")
    message = "Where should we go in Portugal? " * 200
    assert await generate_title(provider, message) == "Packing for Portugal"
    assert provider.messages[-1]["content"] == message[:TITLE_INPUT_CHARS]
    assert sum(len(m["content"]) for m in provider.messages) < 500  # a short chore prompt
