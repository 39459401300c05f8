"""File type by content, not by name or declared type: PDF by its magic bytes; HTML, Markdown and
plain text must be valid UTF-8 without NUL bytes (checked over the whole file while it streams)."""

import codecs

from alice_common import linear_re

PDF = "application/pdf"
HTML = "text/html"
MARKDOWN = "text/markdown"
TEXT = "text/plain"

# RE2, not `re`: in `re` the comment group below backtracks exponentially ("<!---->" repeated
# froze the whole backend), and the Markdown hint quadratically.
_HTML_START = linear_re.compile(rb"(?is)^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)[\s>]")
_MARKDOWN_HINT = linear_re.compile(r"(^|\n)(#{1,6} |\s*[-*+] |\s*\d+\. |```|>\s)|\[[^\]]+\]\([^)]+\)")
_MARKDOWN_NAMES = (".md", ".markdown", ".mdown", ".mkd")


class UnsupportedType(Exception):
    pass


def detect(head: bytes, filename: str) -> str:
    """Type from the first bytes of the file; raises UnsupportedType."""
    if head.startswith(b"%PDF-"):
        return PDF
    body = head[3:] if head.startswith(codecs.BOM_UTF8) else head
    if b"\x00" in body:
        raise UnsupportedType("binary content")
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError as exc:
        raise UnsupportedType("not UTF-8 text") from exc
    if not text.strip():
        raise UnsupportedType("empty file")
    if _HTML_START.match(body[:4096]):
        return HTML
    if filename.lower().endswith(_MARKDOWN_NAMES) or _MARKDOWN_HINT.search(text[:8192]):
        return MARKDOWN
    return TEXT


class TextValidator:
    """Feeds a whole text file through a strict UTF-8 decoder, chunk by chunk."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if b"\x00" in chunk:
            raise UnsupportedType("binary content")
        try:
            self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            raise UnsupportedType("not UTF-8 text") from exc
