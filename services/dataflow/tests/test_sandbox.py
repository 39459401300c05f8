"""Extraction and chunking run in a resource-limited child: hostile files fail with a reason the
user can read, and the dataflow process itself does not grow with the document."""

import asyncio
import json
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from alice_dataflow.extract import DocumentError
from alice_dataflow.sandbox import MIB, Job, Limits, Sandbox

from tests.support import pdfmaker

GENEROUS = Limits(memory_budget_bytes=384 * MIB, cpu_s=60, timeout_s=120)


def job(content_type: str, filename: str, max_chars: int = 5_000_000, max_chunks: int = 100_000) -> Job:
    return Job(content_type, filename, max_chars, 200, 40, max_chunks)


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def nested_html(depth: int, words: int) -> bytes:
    text = " ".join(f"word{i}" for i in range(words))
    return (b"<html><body>" + b"<div><span>" * depth + text.encode() + b"</span></div>" * depth).ljust(
        7 * MIB, b" "
    )


async def test_ordinary_documents_come_back_as_chunks():
    data = pdfmaker.make_pdf([["The lighthouse keeper is named Oskar."], ["Second page here."]])
    chunks = await Sandbox(GENEROUS).chunks(data, job("application/pdf", "doc.pdf"))
    assert any("lighthouse keeper is named Oskar" in c for c in chunks)
    html = b"<html><head><title>t</title></head><body><p>Visible &amp; plain.</p><script>x=1</script>"
    assert await Sandbox(GENEROUS).chunks(html, job("text/html", "p.html")) == ["Visible & plain."]


def measure_7_mib_nested_html() -> None:
    """Run in a fresh interpreter (below), so the children's peak memory is this document's alone,
    not that of whatever other child processes the test session started before."""
    data = nested_html(depth=200_000, words=2000)
    before = rss_bytes()
    started = time.monotonic()
    chunks = asyncio.run(Sandbox(GENEROUS).chunks(data, job("text/html", "deep.html")))
    result = {
        "first": chunks[0][:200],
        "last": chunks[-1][-200:],
        "count": len(chunks),
        "elapsed_s": time.monotonic() - started,
        "service_growth": rss_bytes() - before,
        "child_peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }
    print(json.dumps(result))


def test_a_7_mib_deeply_nested_html_page_is_indexed_without_growing_the_service():
    """The measured outage: a 7 MiB HTML upload grew the dataflow by more than 2 GB."""
    here = Path(__file__).parent
    code = (
        f"import sys; sys.path.insert(0, {str(here)!r}); "
        "import test_sandbox; test_sandbox.measure_7_mib_nested_html()"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert "word0" in result["first"] and "word1999" in result["last"]
    assert result["service_growth"] < 64 * MIB, "the parsing must not happen in the service's process"
    assert result["child_peak"] < 512 * MIB, f"the child peaked at {result['child_peak'] // MIB} MiB"
    print(
        f"\n7 MiB nested HTML: {result['count']} chunks in {result['elapsed_s']:.1f} s, child peak "
        f"{result['child_peak'] // MIB} MiB"
    )


async def test_a_document_needing_too_much_memory_fails_as_too_big():
    small = Limits(memory_budget_bytes=24 * MIB, cpu_s=60, timeout_s=120)
    data = ("many words here " * (4 * MIB // 16)).encode()  # 4 MiB of text: its chunks need far more
    with pytest.raises(DocumentError, match=r"needs more than 24 MiB of memory"):
        await Sandbox(small).chunks(data, job("text/plain", "big.txt"))


async def test_a_pdf_decompression_bomb_fails_with_a_reason():
    bomb = zlib.compress(b"0 0 m " * (40 * MIB // 6), 9)
    data = pdfmaker.make_pdf_with_content_stream(bomb, flate=True)
    small = Limits(memory_budget_bytes=64 * MIB, cpu_s=20, timeout_s=60)
    with pytest.raises(DocumentError) as failure:
        await Sandbox(small).chunks(data, job("application/pdf", "bomb.pdf"))
    assert any(w in str(failure.value) for w in ("memory", "corrupt", "no extractable text", "CPU"))


async def test_a_document_taking_too_long_is_stopped():
    slow = Limits(memory_budget_bytes=384 * MIB, cpu_s=60, timeout_s=0.3)
    data = ("words and more words. " * 400_000).encode()
    started = time.monotonic()
    with pytest.raises(DocumentError, match=r"took longer than 0.3 s"):
        await Sandbox(slow).chunks(data, job("text/plain", "slow.txt"))
    assert time.monotonic() - started < 5


async def test_cpu_limit_stops_a_runaway_child():
    tight = Limits(memory_budget_bytes=384 * MIB, cpu_s=1, timeout_s=60)
    data = ("words and more words. " * 1_000_000).encode()
    with pytest.raises(DocumentError, match=r"more than 1 s of CPU"):
        await Sandbox(tight).chunks(data, job("text/plain", "cpu.txt", max_chars=50_000_000))


async def test_corrupt_and_empty_documents_keep_their_reasons():
    with pytest.raises(DocumentError, match="corrupt or unreadable"):
        await Sandbox(GENEROUS).chunks(pdfmaker.corrupt_pdf(), job("application/pdf", "broken.pdf"))
    with pytest.raises(DocumentError, match="empty"):
        await Sandbox(GENEROUS).chunks(b"  \n ", job("text/plain", "blank.txt"))


def varied_words(n: int, seed: int = 7) -> str:
    import random

    rng = random.Random(seed)
    vocabulary = [f"{a}{b}" for a in ("harbour", "tide", "lamp", "keeper", "ship", "storm", "log")
                  for b in ("s", "ed", "ing", "er", "ward", "less", "ful")]  # fmt: skip
    return " ".join(rng.choice(vocabulary) for _ in range(n))


async def test_a_document_with_too_much_text_fails_with_a_reason_before_anything_is_embedded():
    data = varied_words(40_000).encode()  # about 60 chunks of varied text
    reason = r"^too much text: the document makes [\d,]+ search chunks .* at most 50;"
    with pytest.raises(DocumentError, match=reason):
        await Sandbox(GENEROUS).chunks(data, job("text/plain", "long.txt", max_chunks=50))
    assert len(await Sandbox(GENEROUS).chunks(data, job("text/plain", "long.txt", max_chunks=500))) > 50


@pytest.mark.parametrize(
    "text",
    [
        "spam " * 1_000_000,  # one word, 5 MB
        "alpha beta gamma delta epsilon zeta eta " * 120_000,  # seven words over and over
        "The tide came in. The keeper lit the lamp at dusk, as every night.\n\n" * 60_000,
    ],
    ids=["one-word", "seven-words", "one-paragraph"],
)
async def test_degenerate_text_is_collapsed_to_its_distinct_chunks(text):
    started = time.monotonic()
    chunks = await Sandbox(GENEROUS).chunks(text.encode(), job("text/plain", "spam.txt", max_chunks=2000))
    # Thousands of identical windows would each be embedded; their distinct text is a few chunks.
    assert 1 <= len(chunks) <= 20, len(chunks)
    assert len(set(chunks)) == len(chunks)
    assert time.monotonic() - started < 60


def test_tokenising_in_slices_gives_the_same_offsets_as_the_whole_text(monkeypatch):
    from alice_common.embeddings.tokenizer import token_offsets
    from alice_dataflow import extract_worker

    monkeypatch.setattr(extract_worker, "SEGMENT_CHARS", 997)
    text = ("Lighthouse keepers, ships' logs and north-west gales (1987). " * 200 + "\n\n") * 5
    spans = extract_worker.segmented_token_offsets(text)
    assert [spans[i] for i in range(len(spans))] == [tuple(s) for s in token_offsets(text)]


async def test_a_deeply_nested_pdf_fails_with_a_reason_or_is_read():
    data = pdfmaker.deeply_nested_pdf(100_000)
    try:
        chunks = await Sandbox(GENEROUS).chunks(data, job("application/pdf", "nested.pdf"))
    except DocumentError as exc:
        assert any(w in str(exc) for w in ("nested", "corrupt", "memory", "no extractable text")), exc
    else:
        assert chunks == ["deep"]


async def test_a_small_text_is_chunked_at_once_even_while_a_large_document_is_extracted():
    sandbox = Sandbox(GENEROUS)
    async with sandbox.slots:  # the one extraction child is busy with someone else's document
        note = b"Boathouse key: behind the blue door."

        async def read() -> bytes:
            return note

        chunks = await asyncio.wait_for(sandbox.chunks(read, job("text/plain", "note.txt"), len(note)), 5)
        assert chunks == [note.decode()]
        with pytest.raises(DocumentError, match="empty"):
            await asyncio.wait_for(sandbox.chunks(b"   ", job("text/plain", "blank.txt")), 5)
        # A PDF, however small, is parsed in the child only.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                sandbox.chunks(pdfmaker.corrupt_pdf(), job("application/pdf", "x.pdf")), 0.5
            )
