"""Shortening a message to a platform's length limit without losing what the reader must act on.

Every platform caps a message (Telegram 4,096 UTF-16 units, Slack's blocks about 13,000 characters), and a
coach's alert may quote a client's 40,000-character note. Cutting the tail would drop whatever followed the
long part, and cutting anywhere else would need to know which line matters; so the longest lines are shortened
first, each to the same cap with an ellipsis, until the message fits. The short lines (the title, what changed,
the suggestion for the next session, the buttons' context) stay whole, and a long quote or reason gives way.
The adapters call this with their platform's own way of counting length; the stored message stays whole.
"""

from __future__ import annotations

from collections.abc import Callable

ELLIPSIS = "…"


def fit_lines(text: str, limit: int, length: Callable[[str], int] = len) -> str:
    """``text`` within ``limit`` (as ``length`` counts, character by character): its longest lines shortened to
    one cap, each ending in an ellipsis; when even that cannot fit (thousands of lines), its head."""
    if length(text) <= limit:
        return text
    lines = text.split("\n")
    sizes = [length(line) for line in lines]
    newlines = length("\n") * (len(lines) - 1)

    def total(cap: int) -> int:
        return newlines + sum(min(size, cap) for size in sizes)

    lowest = length(ELLIPSIS) + 1
    if total(lowest) > limit:
        return _cut(text, limit, length)
    low, high = lowest, max(sizes)
    while low < high:  # the largest cap at which the lines fit
        middle = (low + high + 1) // 2
        if total(middle) <= limit:
            low = middle
        else:
            high = middle - 1
    return "\n".join(line if size <= low else _cut(line, low, length) for line, size in zip(lines, sizes, strict=True))


def _cut(text: str, cap: int, length: Callable[[str], int]) -> str:
    """The longest head of ``text`` that fits ``cap`` with an ellipsis after it."""
    budget = cap - length(ELLIPSIS)
    used = 0
    for end, character in enumerate(text):
        used += length(character)
        if used > budget:
            return text[:end].rstrip() + ELLIPSIS
    return text
