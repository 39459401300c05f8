import pytest
from alice_backend import sniff


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "x.bin", sniff.PDF),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "a.txt", sniff.HTML),
        (b"  <html lang='en'>\n<head>", "page", sniff.HTML),
        (b"# Title\n\nSome *text*.", "notes", sniff.MARKDOWN),
        (b"plain words", "notes.md", sniff.MARKDOWN),
        (b"\xef\xbb\xbfJust text, caf\xc3\xa9.", "a", sniff.TEXT),
    ],
)
def test_detects_supported_types_by_content(head, name, expected):
    assert sniff.detect(head, name) == expected


@pytest.mark.parametrize(
    "head",
    [b"\x89PNG\r\n\x1a\n\x00\x00", b"PK\x03\x04\x14\x00", b"caf\xe9 latin-1", b"text\x00with nul", b"  \n"],
)
def test_rejects_binary_non_utf8_and_empty(head):
    with pytest.raises(sniff.UnsupportedType):
        sniff.detect(head, "file.txt")


def test_validator_accepts_utf8_split_across_chunks_and_rejects_late_garbage():
    ok = sniff.TextValidator()
    ok.feed("é".encode()[:1])
    ok.feed("é".encode()[1:], final=True)
    bad = sniff.TextValidator()
    bad.feed(b"fine so far ")
    with pytest.raises(sniff.UnsupportedType):
        bad.feed(b"\xff\xfe", final=True)
