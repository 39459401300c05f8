"""The child process that turns one upload into chunks, under hard resource limits.

Run by `alice_dataflow.sandbox` as `python -m alice_dataflow.extract_worker '<job json>'` with the
file on stdin; prints `{"chunks": [...]}` or `{"error": "<reason for the user>"}` on stdout. The
limits are set after the imports, so `memory_budget_bytes` is what the document itself may use.
"""

import json
import resource
import sys
from array import array

from alice_common.embeddings.tokenizer import token_offsets

from alice_dataflow.chunking import chunk_text
from alice_dataflow.extract import DocumentError, extract_text

EXIT_OUT_OF_MEMORY = 3
# The tokenizer's output for a whole 5 M-character document (token strings, ids, offsets) and a
# Python list of a million offset tuples would take hundreds of MiB: tokenise slices cut at
# whitespace (where word pieces never span) and keep the offsets in two flat arrays.
SEGMENT_CHARS = 100_000


class CompactSpans:
    """(start, end) character offsets of each token, 16 bytes per token."""

    def __init__(self) -> None:
        self.starts, self.ends = array("q"), array("q")

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[int, int]:
        return self.starts[index], self.ends[index]


def segmented_token_offsets(text: str) -> CompactSpans:
    spans = CompactSpans()
    pos = 0
    while pos < len(text):
        end = min(len(text), pos + SEGMENT_CHARS)
        if end < len(text):
            cut = max(text.rfind(" ", pos, end), text.rfind("\n", pos, end))
            end = cut if cut > pos else end
        for start, stop in token_offsets(text[pos:end]):
            spans.starts.append(pos + start)
            spans.ends.append(pos + stop)
        pos = end
    return spans


def _address_space_now() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def limit_resources(memory_budget_bytes: int, cpu_s: int) -> None:
    limit = _address_space_now() + memory_budget_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # SIGXCPU at the soft limit (fatal: not handled), SIGKILL a second later.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))


def run(job: dict, data: bytes) -> dict:
    text = extract_text(data, job["content_type"], job["filename"], job["max_chars"])
    del data
    chunks = chunk_text(text, segmented_token_offsets, job["chunk_tokens"], job["chunk_overlap_tokens"])
    del text
    # Degenerate text (one word or one paragraph repeated) makes the same windows over and over:
    # each distinct one is embedded once, so it costs what its distinct text costs.
    chunks = list(dict.fromkeys(chunks))
    if not chunks:
        raise DocumentError("no text to index")
    if len(chunks) > job["max_chunks"]:
        raise DocumentError(too_much_text(len(chunks), job["max_chunks"]))
    return {"chunks": chunks}


def too_much_text(chunks: int, limit: int) -> str:
    return (
        f"too much text: the document makes {chunks:,} search chunks and one document may have "
        f"at most {limit:,}; split it into smaller files"
    )


def main() -> int:
    job = json.loads(sys.argv[1])
    token_offsets("warm up")  # load the tokenizer before the limits apply
    limit_resources(job["memory_budget_bytes"], job["cpu_s"])
    try:
        result = run(job, sys.stdin.buffer.read())
    except DocumentError as exc:
        result = {"error": str(exc)}
    except RecursionError:
        result = {"error": "the document is too deeply nested to read"}
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    try:
        sys.stdout.write(json.dumps(result))
        sys.stdout.flush()
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    return 0


if __name__ == "__main__":
    sys.exit(main())
