import re

import pytest
from alice_dataflow.extract import DocumentError, extract_text, kind_of, normalize_whitespace
from hypothesis import given
from hypothesis import strategies as st

from tests.support import pdfmaker


def test_markdown_and_text_come_through_with_tidy_whitespace():
    data = b"# Title\r\n\r\n\r\n\r\nSome   *bold*\ttext.\n"
    assert extract_text(data, "text/markdown", "notes.md") == "# Title\n\nSome *bold* text."


def test_html_keeps_visible_text_only():
    html = b"<html><head><title>t</title><style>p{color:red}</style></head><body><h1>Heading</h1>"
    html += b"<script>var secret = 1;</script><p>Visible &amp; plain.</p></body></html>"
    text = extract_text(html, "text/html", "page.html")
    assert "Heading" in text and "Visible & plain." in text
    assert "secret" not in text and "color" not in text


def test_pdf_text_from_every_page():
    data = pdfmaker.make_pdf([["The lighthouse keeper is named Oskar."], ["Second page here."]])
    text = extract_text(data, "application/pdf", "doc.pdf")
    assert "lighthouse keeper is named Oskar" in text
    assert "Second page here." in text


def test_corrupt_pdf_fails_with_a_readable_reason():
    with pytest.raises(DocumentError, match="corrupt or unreadable"):
        extract_text(pdfmaker.corrupt_pdf(), "application/pdf", "broken.pdf")


def test_truncated_pdf_is_corrupt():
    whole = pdfmaker.make_pdf([["some text"]])
    with pytest.raises(DocumentError, match="PDF"):
        extract_text(whole[: len(whole) // 3], "application/pdf", "cut.pdf")


def test_pdf_without_text_is_rejected():
    with pytest.raises(DocumentError, match="no extractable text"):
        extract_text(pdfmaker.make_pdf([[]]), "application/pdf", "blank.pdf")


def test_unsupported_and_binary_and_empty_files_are_rejected():
    with pytest.raises(DocumentError, match="unsupported file type"):
        extract_text(b"\x89PNG\r\n", "image/png", "photo.png")
    with pytest.raises(DocumentError, match="binary"):
        extract_text(b"abc\x00\x01\x02", "text/plain", "x.txt")
    with pytest.raises(DocumentError, match="empty"):
        extract_text(b"  \n\n ", "text/plain", "x.txt")


def test_kind_is_decided_by_content_when_the_type_is_vague():
    assert kind_of("application/octet-stream", "upload", b"%PDF-1.4 ...") == "pdf"
    assert kind_of("", "readme.md", b"# hi") == "text"


def test_extracted_text_is_capped():
    assert len(extract_text(b"word " * 1000, "text/plain", "a.txt", max_chars=100)) == 100 - 1


@given(st.text(alphabet=[" ", "\t", "\n", "\r", "\v", "\f", "\x00", "a", "é"], max_size=60))
def test_whitespace_is_normalised_like_the_regex_definition(text):
    """The string-method implementation matches its definition in (backtracking) patterns."""
    expected = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    expected = re.sub(r"[ \t\f\v]+", " ", expected)
    expected = re.sub(r" *\n *", "\n", expected)
    expected = re.sub(r"\n{3,}", "\n\n", expected).strip()
    assert normalize_whitespace(text) == expected
