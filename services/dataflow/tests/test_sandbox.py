"""Extraction and chunking run in a resource-limited child: hostile files fail with a reason the
user can read, and the dataflow process itself does not grow with the document."""

import importlib.util
import time
import zlib
from pathlib import Path

import pytest
from alice_dataflow.extract import DocumentError
from alice_dataflow.sandbox import MIB, Job, Limits, Sandbox

_spec = importlib.util.spec_from_file_location("pdfmaker", Path(__file__).with_name("pdfmaker.py"))
pdfmaker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pdfmaker)

GENEROUS = Limits(memory_budget_bytes=384 * MIB, cpu_s=60, timeout_s=120)


def job(content_type: str, filename: str, max_chars: int = 5_000_000) -> Job:
    return Job(content_type, filename, max_chars, chunk_tokens=200, chunk_overlap_tokens=40)


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


async def test_a_7_mib_deeply_nested_html_page_is_indexed_without_growing_the_service():
    """The measured outage: a 7 MiB HTML upload grew the dataflow by more than 2 GB."""
    data = nested_html(depth=200_000, words=2000)
    before = rss_bytes()
    started = time.monotonic()
    chunks = await Sandbox(GENEROUS).chunks(data, job("text/html", "deep.html"))
    elapsed = time.monotonic() - started
    assert "word0" in chunks[0] and "word1999" in chunks[-1]
    assert rss_bytes() - before < 64 * MIB, "the parsing must not happen in the service's process"
    # The child's own memory is capped by RLIMIT_AS (see the "too big" test below).
    print(f"\n7 MiB nested HTML: {len(chunks)} chunks in {elapsed:.1f} s")


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
