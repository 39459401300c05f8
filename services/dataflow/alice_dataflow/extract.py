"""Text out of an uploaded file: plain text and Markdown as they are, HTML via BeautifulSoup,
PDF via pypdf. Anything unreadable raises `DocumentError` with a reason a user can act on."""

import io
import logging
import re
import warnings

from bs4 import BeautifulSoup
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

log = logging.getLogger(__name__)

PDF = "application/pdf"
HTML = "text/html"
TEXT_TYPES = {"text/plain", "text/markdown", "text/x-markdown", "text/csv"}
_TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text", ".csv", ".log", ".rst")


class DocumentError(Exception):
    """The document itself cannot be indexed (corrupt, unsupported, empty). Retrying will not help."""


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


def extract_text_file(data: bytes) -> str:
    return _decode(data)


def extract_html(data: bytes) -> str:
    soup = BeautifulSoup(_decode(data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    return soup.get_text("\n")


def extract_pdf(data: bytes) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                raise DocumentError("the PDF is encrypted; upload an unprotected copy")
            pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except (PdfReadError, PyPdfError) as exc:
        raise DocumentError(f"the PDF is corrupt or unreadable ({exc})") from exc
    except Exception as exc:  # pypdf raises assorted errors on malformed input; all mean "corrupt"
        log.info("pypdf failed: %s: %s", type(exc).__name__, exc)
        raise DocumentError(f"the PDF is corrupt or unreadable ({type(exc).__name__})") from exc
    return "\n\n".join(pages)


def normalize_whitespace(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def extract_text(data: bytes, content_type: str, filename: str, max_chars: int = 5_000_000) -> str:
    kind = kind_of(content_type, filename, data)
    raw = {"pdf": extract_pdf, "html": extract_html, "text": extract_text_file}[kind](data)
    text = normalize_whitespace(raw)[:max_chars].strip()
    if not text:
        reason = "the PDF has no extractable text (scanned images?)" if kind == "pdf" else "the file is empty"
        raise DocumentError(reason)
    return text
