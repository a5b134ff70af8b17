"""A client's words made safe to quote inside a message the bot writes.

An alert mixes the bot's lines with what a client typed. If the client's text could start a line of its own,
reorder the characters around it or open formatting that runs into the next lines, a note could forge a line
that reads as the bot's ("• Trust was answered 5") or hide one. ``quote`` keeps the words and removes only
what can do that, so the quote stays on the line the bot puts it on:

- line and paragraph breaks (``\\n``, ``\\r``, U+0085, U+2028, U+2029, vertical tab, form feed) become " / ",
  so the coach still sees where a line ended;
- bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), marks (U+200E, U+200F, U+061C),
  zero-width characters (U+200B–U+200D, U+2060, U+FEFF) and every other control or format character go;
- runs of backticks shrink to one, since a Markdown fence (three of them) opens a code block that swallows the
  lines after it on platforms that read Markdown; one backtick cannot span lines;

Nothing is cut: a long note is shortened by the adapter to its platform's limit, which is why an alert quotes
the client last, after the lines the coach acts on.

A leading ">" (a block quote in Slack and Markdown) is harmless here because the caller never puts a quote at
the start of a line; the adapters escape what their platform reads as markup (Slack: ``&``, ``<``, ``>``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

LINE_BREAK: Final = " / "

_BREAKS: Final = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_BACKTICKS: Final = re.compile(r"`{2,}")
_SPACES: Final = re.compile(r"[^\S\n]+")


def quote(text: str) -> str:
    """``text`` on one line, without invisible or direction-changing characters."""
    text = _BREAKS.sub("\n", text)
    kept = []
    for character in text:
        category = unicodedata.category(character)
        if character == "\n":
            kept.append(character)
        elif category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            kept.append(" " if character == "\t" else "")
        else:
            kept.append(character)
    lines = [_SPACES.sub(" ", line).strip() for line in "".join(kept).split("\n")]
    single = LINE_BREAK.join(line for line in lines if line)
    return _BACKTICKS.sub("`", single)
