"""PyYAML's syntax errors in words an admin can act on.

PyYAML reports what its parser expected ("mapping values are not allowed here", "expected <block end>, but
found '<block mapping start>'"), which means nothing to someone editing a config by hand. The common mistakes
(a ':' inside a value, a missing ':', a tab, an unclosed quote or bracket, a line indented differently) are
recognised here and told as what to change, at the line and column where the change goes. A mistake not
recognised keeps PyYAML's own words, which are still better than nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml
from yaml.error import Mark

_CANNOT_START = re.compile(r"^found character '(.+)' that cannot start any token$")
_UNKNOWN_ESCAPE = re.compile(r"^found unknown escape character '(.+)'$")
_BAD_HEX_ESCAPE = re.compile(r"^expected escape sequence of [0-9]+ hexadecimal numbers, but found '.+'$")
_UNDEFINED_ALIAS = re.compile(r"^found undefined alias '(.+)'$")
_UNCLOSED = {
    "while parsing a flow sequence": ("[", "]", "list"),
    "while parsing a flow mapping": ("{", "}", "mapping"),
}
_MISALIGNED = (
    "this line is indented differently from the lines above it; "
    "line up each key with the other keys of its section (spaces, not tabs)"
)


@dataclass(frozen=True)
class SyntaxProblem:
    """Where a syntax mistake is (1-based, ``None`` when unknown) and what to do about it."""

    line: int | None
    column: int | None
    message: str


def explain(error: yaml.MarkedYAMLError, text: str) -> SyntaxProblem:
    """``error`` raised while parsing ``text``, as a plain sentence at the place to edit."""
    problem, context = error.problem or "", error.context or ""
    at_problem, at_context = error.problem_mark, error.context_mark
    if problem == "mapping values are not allowed here":
        return _at(at_problem, "a ':' appears inside a value; put the value in quotes, as in key: \"a: b\"")
    if problem == "could not find expected ':'":
        return _at(at_context, "this line has no ':' after its key; write key: value, with a space after the ':'")
    if found := _CANNOT_START.match(problem):
        if found[1] == "\\t":
            return _at(at_problem, "a tab character; YAML indents with spaces only")
        return _at(at_problem, f"a value cannot start with '{found[1]}'; put the value in quotes")
    if context.startswith("while scanning a quoted scalar") and at_context is not None:
        quote = text.splitlines()[at_context.line][at_context.column]
        return _at(at_context, f"this quote is never closed; add the closing {quote} at the end of the value")
    if context in _UNCLOSED:
        return _unclosed(_UNCLOSED[context], at_context)
    if problem.endswith("but found '<stream end>'") and (bracket := _open_bracket(text)) is not None:
        return bracket
    if problem.startswith("expected <block end>, but found"):
        return _misplaced(problem, at_problem, text)
    if _UNKNOWN_ESCAPE.match(problem) or _BAD_HEX_ESCAPE.match(problem):
        return _bad_escape(at_problem, text)
    if found := _UNDEFINED_ALIAS.match(problem):
        name = found[1]
        return _at(
            at_problem,
            f"'*{name}' refers to an anchor '&{name}' that is not defined above it; "
            "put the value in quotes if the '*' is meant literally",
        )
    if problem == "but found another document":
        return _at(at_problem, "a second YAML document ('---'); the file must hold one document only")
    return _at(at_problem or at_context, f"YAML syntax error: {problem or context}")


def _at(mark: Mark | None, message: str) -> SyntaxProblem:
    if mark is None:
        return SyntaxProblem(None, None, message)
    return SyntaxProblem(mark.line + 1, mark.column + 1, message)


def _unclosed(bracket: tuple[str, str, str], mark: Mark | None) -> SyntaxProblem:
    opening, closing, kind = bracket
    return _at(mark, f"this '{opening}' is never closed; add the '{closing}' that ends the {kind}")


def _open_bracket(text: str) -> SyntaxProblem | None:
    """The innermost '[' or '{' still open where the file ends, found by re-reading its tokens."""
    opened: list[yaml.Token] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.FlowSequenceStartToken | yaml.FlowMappingStartToken):
                opened.append(token)
            elif isinstance(token, yaml.FlowSequenceEndToken | yaml.FlowMappingEndToken) and opened:
                opened.pop()
    except yaml.YAMLError:
        pass  # the scanner stops where the parser did; what is open by then is the answer
    if not opened:
        return None
    last = opened[-1]
    kind = (
        "while parsing a flow sequence"
        if isinstance(last, yaml.FlowSequenceStartToken)
        else "while parsing a flow mapping"
    )
    return _unclosed(_UNCLOSED[kind], last.start_mark)


def _misplaced(problem: str, mark: Mark | None, text: str) -> SyntaxProblem:
    """Something where the parser expected the mapping or list around it to go on or end."""
    if problem.endswith("'-'"):
        return _at(
            mark, "a list item ('- ') where a key was expected; give it a key, or indent it under the key it belongs to"
        )
    if problem.endswith("'<scalar>'") and mark is not None:
        before = text.splitlines()[mark.line][: mark.column].rstrip()
        if before.endswith(("'", '"')):
            return _at(mark, "text after the closing quote; put the whole value inside the quotes")
    return _at(mark, _MISALIGNED)


def _bad_escape(mark: Mark | None, text: str) -> SyntaxProblem:
    """A backslash in double quotes that YAML reads as an escape (``"C:\\Users"``), reported at the backslash."""
    if mark is None:
        return SyntaxProblem(None, None, "a backslash in double quotes starts an escape; use single quotes")
    line = text.splitlines()[mark.line]
    backslash = line.rfind("\\", 0, mark.column)
    escape = line[backslash : backslash + 2]
    return SyntaxProblem(
        mark.line + 1,
        backslash + 1,
        f"'{escape}' is not an escape YAML knows between double quotes; use single quotes, or write \\\\ for a "
        "backslash",
    )
