"""Split text into overlapping chunks measured in model tokens.

Windows of `size` word pieces advance by `size - overlap`, so a sentence cut at one window's
edge appears whole in the next. A window's end is pulled back to a paragraph or sentence break
when one lies in its last third, so chunks tend to hold whole thoughts.
"""

from collections.abc import Callable, Sequence

Offsets = Callable[[str], Sequence[tuple[int, int]]]

_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ")


def _break_before(text: str, start: int, end: int) -> int | None:
    """Character index just after the strongest break in text[start:end], if any."""
    for mark in _BREAKS:
        at = text.rfind(mark, start, end)
        if at != -1:
            return at + len(mark)
    return None


def chunk_text(text: str, token_offsets: Offsets, size: int = 200, overlap: int = 40) -> list[str]:
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError("need size > 0 and 0 <= overlap < size")
    spans = token_offsets(text)
    if not spans:
        return []
    chunks: list[str] = []
    first = 0  # index of the first token of the current window
    while first < len(spans):
        last = min(first + size, len(spans))  # exclusive
        if last < len(spans):
            min_keep = first + (2 * size) // 3
            cut = _break_before(text, spans[min_keep][0], spans[last][0])
            if cut is not None:
                # Tokens that start before the break stay in this chunk.
                while last > min_keep + 1 and spans[last - 1][0] >= cut:
                    last -= 1
        piece = text[spans[first][0] : spans[last - 1][1]].strip()
        if piece:
            chunks.append(piece)
        if last >= len(spans):
            break
        first = max(last - overlap, first + 1)
    return chunks
