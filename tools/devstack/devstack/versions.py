"""The pinned versions in the repository's `versions.env` (KEY=value lines that bash also sources)."""

import re
from pathlib import Path

VERSIONS_FILE = Path(__file__).resolve().parents[3] / "versions.env"
_LINE = re.compile(r"([A-Z][A-Z0-9_]*)=(\S+)\s*(?:#.*)?")


def parse(text: str) -> dict[str, str]:
    """KEY=value lines; blank lines and `#` comments are skipped. Anything else (quotes, spaces in a
    value, a `${...}` bash would expand) is refused, so bash and Python always read the same value."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None or re.search(r"[\"'$`\\]", match.group(2)):
            raise ValueError(f"versions.env:{number}: not a plain KEY=value line: {raw!r}")
        key, value = match.groups()
        if key in pins:
            raise ValueError(f"versions.env:{number}: {key} is set twice")
        pins[key] = value
    return pins


def load(path: Path = VERSIONS_FILE) -> dict[str, str]:
    return parse(path.read_text())


PINS = load()
