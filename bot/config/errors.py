"""What a config problem looks like to the admin who has to fix it.

An admin edits YAML by hand and reruns ``checkin validate``; fixing one error per run is slow and
frustrating, so every loader collects all of its problems as ``ConfigIssue`` values and raises them
together, each pointing at a file and line the admin can jump to.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Control characters, and the bidirectional overrides that could make a terminal show the line reordered.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class ConfigIssue:
    """One problem, rendered as ``file:line path: message`` like a compiler diagnostic.

    ``column`` is given for YAML syntax errors, where the line alone does not say which character to change;
    it is rendered ``file:line:column``, the form editors jump to.
    """

    file: str
    line: int | None
    path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.line is not None and self.column is not None:
            where += f":{self.column}"
        text = f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        # Keys and values come from the admin's file; keep each issue on one visible line whatever they contain.
        return _UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


class ConfigError(Exception):
    """Raised with every issue found, so the admin sees the whole list at once."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        if not issues:
            raise ValueError("ConfigError needs at least one issue")
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or an empty string.

    Case is ignored when matching because ``europe/paris`` and ``Europe/Paris`` are the same typo.
    """
    by_folded = {choice.casefold(): choice for choice in choices}
    matches = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return f" (did you mean '{by_folded[matches[0]]}'?)" if matches else ""
