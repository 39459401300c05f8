"""Text out of an uploaded file: plain text and Markdown as they are, HTML through the standard
library's streaming `HTMLParser` (no tree: memory follows the text kept, not the markup, and depth
costs nothing), PDF via pypdf page by page. Every extractor stops once it has `max_chars`.
Anything unreadable raises `DocumentError` with a reason a user can act on.

These functions trust nothing but are not themselves bounded in memory or time: the dataflow
runs them in a resource-limited child process (`alice_dataflow.sandbox`)."""

import io
import logging
import warnings
from html.parser import HTMLParser

from alice_common.kafka.failures import PermanentError
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

log = logging.getLogger(__name__)

PDF = "application/pdf"
HTML = "text/html"
TEXT_TYPES = {"text/plain", "text/markdown", "text/x-markdown", "text/csv"}
_TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text", ".csv", ".log", ".rst")


class DocumentError(PermanentError):
    """The document itself cannot be indexed (corrupt, unsupported, empty, too big). Retrying will
    not help, so the consume loop dead-letters it at once."""


def kind_of(content_type: str, filename: str, data: bytes) -> str:
    """'pdf', 'html' or 'text'; the content decides when the declared type is vague."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    name = (filename or "").lower()
    if ctype == PDF or data[:5] == b"%PDF-" or name.endswith(".pdf"):
        return "pdf"
    if ctype in (HTML, "application/xhtml+xml") or name.endswith((".html", ".htm")):
        return "html"
    if ctype in TEXT_TYPES or ctype.startswith("text/") or name.endswith(_TEXT_SUFFIXES):
        return "text"
    raise DocumentError(f"unsupported file type {ctype or 'unknown'!r}; use PDF, HTML, Markdown or text")


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise DocumentError("the file looks binary, not text")
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # never fails; better than rejecting an old 8-bit text file


def extract_text_file(data: bytes, max_chars: int) -> str:
    return _decode(data)[: max_chars * 2]  # whitespace is squeezed later: keep some slack


class _Enough(Exception):
    """Enough text collected; stop parsing."""


class _VisibleText(HTMLParser):
    """Collects the text outside script, style, head and the like, one piece per text node."""

    HIDDEN = frozenset({"script", "style", "noscript", "template", "head"})

    def __init__(self, max_chars: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._size = 0
        self._max_chars = max_chars
        self._hidden: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self.HIDDEN:
            self._hidden[tag] = self._hidden.get(tag, 0) + 1
        elif tag == "body":
            self._hidden.pop("head", None)  # an unclosed <head> must not hide the whole page

    def handle_endtag(self, tag: str) -> None:
        if self._hidden.get(tag):
            self._hidden[tag] -= 1

    def handle_data(self, data: str) -> None:
        if any(self._hidden.values()) or not data.strip():
            return
        self.parts.append(data)
        self._size += len(data)
        if self._size > self._max_chars * 2:
            raise _Enough


HTML_FEED_CHARS = 64 * 1024


def extract_html(data: bytes, max_chars: int) -> str:
    text = _decode(data)
    parser = _VisibleText(max_chars)
    try:
        for start in range(0, len(text), HTML_FEED_CHARS):
            parser.feed(text[start : start + HTML_FEED_CHARS])
        parser.close()
    except _Enough:
        pass
    return "\n".join(parser.parts)


def extract_pdf(data: bytes, max_chars: int) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                raise DocumentError("the PDF is encrypted; upload an unprotected copy")
            pages, size = [], 0
            for page in reader.pages:
                pages.append(page.extract_text() or "")
                size += len(pages[-1])
                if size > max_chars * 2:
                    break
    except DocumentError:
        raise
    except RecursionError as exc:
        raise DocumentError("the PDF is too deeply nested to read") from exc
    except MemoryError:
        raise  # the sandbox reports it as "too big", not as corrupt
    except (PdfReadError, PyPdfError) as exc:
        raise DocumentError(f"the PDF is corrupt or unreadable ({exc})") from exc
    except Exception as exc:  # pypdf raises assorted errors on malformed input; all mean "corrupt"
        log.info("pypdf failed: %s: %s", type(exc).__name__, exc)
        raise DocumentError(f"the PDF is corrupt or unreadable ({type(exc).__name__})") from exc
    return "\n\n".join(pages)


_BLANKS_TO_SPACE = str.maketrans({"\t": " ", "\f": " ", "\v": " "})


def normalize_whitespace(text: str) -> str:
    """Runs of blanks become one space, lines lose their edge blanks, at most one empty line in a
    row. String methods rather than patterns: each step is one linear C-speed pass (RE2's `sub`
    from Python costs ~15 µs per match, seconds on a 5 M-character document)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines: list[str] = []
    for raw in text.translate(_BLANKS_TO_SPACE).split("\n"):
        line = " ".join(word for word in raw.split(" ") if word)
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()


def extract_text(data: bytes, content_type: str, filename: str, max_chars: int = 5_000_000) -> str:
    kind = kind_of(content_type, filename, data)
    raw = {"pdf": extract_pdf, "html": extract_html, "text": extract_text_file}[kind](data, max_chars)
    text = normalize_whitespace(raw)[:max_chars].strip()
    if not text:
        reason = "the PDF has no extractable text (scanned images?)" if kind == "pdf" else "the file is empty"
        raise DocumentError(reason)
    return text
