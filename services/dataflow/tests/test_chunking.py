import itertools
import re

import pytest
from alice_common.embeddings.tokenizer import count_tokens, token_offsets
from alice_dataflow.chunking import chunk_text


def words_offsets(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def test_short_text_is_one_chunk():
    assert chunk_text("just a few words", words_offsets, size=10, overlap=2) == ["just a few words"]
    assert chunk_text("", words_offsets) == []


def test_windows_overlap_and_cover_every_word():
    text = " ".join(f"w{i}" for i in range(100))
    chunks = chunk_text(text, words_offsets, size=20, overlap=5)
    words = [c.split() for c in chunks]
    assert all(len(w) <= 20 for w in words)
    covered = {w for c in words for w in c}
    assert covered == {f"w{i}" for i in range(100)}
    for prev, nxt in itertools.pairwise(words):
        assert prev[-5:] == nxt[:5]  # exactly `overlap` words repeated


def test_chunks_end_at_sentence_breaks_when_one_is_near():
    sentences = [f"Sentence {i} has exactly six words." for i in range(30)]
    chunks = chunk_text(" ".join(sentences), words_offsets, size=20, overlap=4)
    assert all(c.endswith(".") for c in chunks)


def test_model_token_sizes_fit_the_model():
    text = "Kafka partitions are ordered logs; consumers track offsets per group. " * 80
    chunks = chunk_text(text, token_offsets, size=200, overlap=40)
    assert len(chunks) > 3
    assert all(count_tokens(c) <= 200 for c in chunks)
    assert all(count_tokens(c) >= 100 for c in chunks[:-1])


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError):
        chunk_text("a b", words_offsets, size=5, overlap=5)
