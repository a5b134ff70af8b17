"""YAML parser events -> plain data plus the line of every value, without PyYAML's node graph.

PyYAML's composer turns the whole file into nodes, each with two position marks, before anything reads them: at
10,000 clients that graph held about 110 MB and took most of the parse. ``EventBuilder`` reads the parser's events
one at a time and keeps only the data it builds and each value's line. It reads exactly as the composer would:
an anchor keeps its events (anchors are few and small) and each alias builds them again where it is used, as
the composer's shared node was built at each of its places; an alias of an anchor still being read is reported;
duplicate keys, merge keys (``<<``) and tags are handled as before. The composer's own errors (an undefined
alias, a duplicate anchor, a second document) are raised as PyYAML raises them, for ``yamlerrors`` to explain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode

from bot.config.errors import ConfigIssue

#: A value's address: mapping keys and list indices from the document root.
DataPath = tuple[Any, ...]

#: Values built by expanding aliases, at most: an alias bomb (anchors of anchors) grows exponentially and is cut
#: here long before memory runs out. Only expansions count: the values written out in the file are bounded by
#: its size (``yamlsource.MAX_BYTES``), and counting them too refused a practice of 100,000 clients (2.2 million
#: values) as an alias bomb.
MAX_ALIASED = 2_000_000
MAX_DEPTH = 64
#: Nesting past this (a file of ``[[[[…``) is refused as a whole rather than read level by level.
NESTING_LIMIT = 500

STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def _composer_error(context: str | None, context_mark: Any, problem: str, problem_mark: Any) -> ComposerError:
    """PyYAML's composer error; its marks come from libyaml or from the pure-Python parser."""
    return ComposerError(context, context_mark, problem, problem_mark)


def _line(mark: Any) -> int:
    """The 1-based line of a parser mark (libyaml's or the pure-Python parser's)."""
    return int(mark.line) + 1


def _expanded(event: Event, anchors: dict[str | None, _Anchor]) -> int:
    """How many values one event of an anchor stands for (an alias inside its own anchor counts once)."""
    if isinstance(event, AliasEvent):
        return anchors[event.anchor].size or 1
    return 1 if isinstance(event, (ScalarEvent, CollectionStartEvent)) else 0


class AliasBombError(Exception):
    """Expanding the document's aliases would build more than ``MAX_ALIASED`` values."""


class NestedTooDeeplyError(Exception):
    """The document nests deeper than ``NESTING_LIMIT``."""


@dataclass(slots=True)
class _Anchor:
    """An anchored node's events, from its first to its last, and how many values it expands to."""

    start: ScalarEvent | CollectionStartEvent
    events: list[Event]
    depth: int
    size: int = 0

    @property
    def line(self) -> int:
        return _line(self.start.start_mark)


@dataclass(slots=True)
class Built:
    """What a document became: its data (``None`` when the file is empty), each value's line when they were
    asked for, the problems."""

    data: Any
    root_line: int
    root_kind: type[Event] | None
    lines: dict[DataPath, int] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)


class EventBuilder:
    """Builds one document from ``next_event`` (a PyYAML loader's ``get_event``), recording each entry's line
    when ``lines`` is true.

    Without lines it still finds every problem (each names its own line): at 10,000 clients the line map is
    120,000 entries, about 17 MB and a sixth of the parse, and only a problem found later needs it, so
    ``SourceDocument`` builds it by parsing again then.
    """

    def __init__(
        self,
        file: str,
        next_event: Callable[[], Event],
        construct: Callable[[ScalarNode], Any],
        resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]],
        *,
        lines: bool = True,
    ) -> None:
        """``construct`` builds a scalar that is not a plain string (a number, a date); ``resolvers`` are the
        loader's implicit resolvers by first character, which decide a plain scalar's tag."""
        self.file = file
        #: ``None`` when lines are not recorded.
        self.lines: dict[DataPath, int] | None = {} if lines else None
        self.issues: list[ConfigIssue] = []
        self._stream = next_event
        self._construct = construct
        self._resolvers = resolvers
        #: Whether some resolver takes a scalar whatever its first character (PyYAML registers none).
        self._wildcards = bool(resolvers.get(None))
        self._anchors: dict[str | None, _Anchor] = {}
        self._recording: list[_Anchor] = []
        self._replays: list[Iterator[Event]] = []
        #: Anchors still being read or being built again through an alias: an alias to one refers to itself.
        self._active: set[str | None] = set()
        self._count = 0
        #: One object per distinct string: a config repeats its keys and most of its values (a time zone, a
        #: cadence, a coach) once per client, and parser events make a new object for each.
        self._strings: dict[str, str] = {}

    def build(self) -> Built:
        """The document, or ``root_kind`` telling the caller it is not a mapping (nothing else is built then)."""
        self._expect(StreamStartEvent)
        first = self._next()
        if isinstance(first, StreamEndEvent):
            return Built(None, 0, None)
        if not isinstance(first, DocumentStartEvent):  # pragma: no cover - the parser always starts a document
            raise _composer_error(None, None, f"expected a document, found {type(first).__name__}", first.start_mark)
        root = self._peek_node()
        line = self._line_of(root)
        if not isinstance(root, MappingStartEvent):
            self._skip_rest(root, 0)
            self._end_of_stream(root)
            return Built(None, line, type(root))
        if self.lines is not None:
            self.lines[()] = line
        data = self._value((), root)
        self._end_of_stream(root)
        return Built(data, line, MappingStartEvent, self.lines or {}, self.issues)

    def _end_of_stream(self, root: Event) -> None:
        self._expect(DocumentEndEvent)
        after = self._next()
        if not isinstance(after, StreamEndEvent):
            raise _composer_error(
                "expected a single document in the stream",
                root.start_mark,
                "but found another document",
                after.start_mark,
            )

    # Reading events

    def _next(self) -> Event:
        """The next event; the one place every event passes, so it does only what each needs (anchors are rare)."""
        if self._replays:
            return next(self._replays[-1])
        event = self._stream()
        recording = self._recording
        if recording:
            for anchor in recording:
                anchor.events.append(event)
                if isinstance(event, CollectionStartEvent):
                    anchor.depth += 1
                elif isinstance(event, CollectionEndEvent):
                    anchor.depth -= 1
        if isinstance(event, (ScalarEvent, CollectionStartEvent)) and event.anchor is not None:
            self._begin_anchor(event)
        while recording and recording[-1].depth == 0:
            self._end_anchor()
        return event

    def _begin_anchor(self, event: ScalarEvent | CollectionStartEvent) -> None:
        name = event.anchor
        known = self._anchors.get(name)
        if known is not None:
            raise _composer_error(
                f"found duplicate anchor {name!r}; first occurrence",
                known.start.start_mark,
                "second occurrence",
                event.start_mark,
            )
        anchor = _Anchor(event, [event], 1 if isinstance(event, CollectionStartEvent) else 0)
        self._anchors[name] = anchor
        self._recording.append(anchor)
        self._active.add(name)

    def _end_anchor(self) -> None:
        anchor = self._recording.pop()
        self._active.discard(anchor.start.anchor)
        anchor.size = sum(_expanded(e, self._anchors) for e in anchor.events)

    def _peek_node(self) -> Event:
        """The next node's first event, consumed; an alias stays an alias (``_value`` expands it)."""
        event = self._next()
        if isinstance(event, AliasEvent) and event.anchor not in self._anchors:
            raise _composer_error(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
        return event

    def _expect(self, kind: type[Event]) -> None:
        event = self._next()
        if not isinstance(event, kind):  # pragma: no cover - the parser guarantees the stream's shape
            found = f"expected {kind.__name__}, found {type(event).__name__}"
            raise _composer_error(None, None, found, event.start_mark)

    def _line_of(self, event: Event) -> int:
        if isinstance(event, AliasEvent):
            return self._anchors[event.anchor].line
        return _line(event.start_mark)

    # Building values

    def _value(self, path: DataPath, first: Event | None = None) -> Any:
        """The value of the node that starts with ``first`` (read now when not given)."""
        event = first if first is not None else self._peek_node()
        if isinstance(event, AliasEvent):
            return self._alias(event, path)
        if len(path) > MAX_DEPTH:
            self._problem(event, path, "nested too deeply")
            self._skip_rest(event, len(path))
            return None
        if isinstance(event, ScalarEvent):
            if event.tag is None and not self._wildcards and event.value[:1] not in self._resolvers:
                # A plain string that no resolver could take: most values of a config.
                return self._strings.setdefault(event.value, event.value)
            return self._scalar(event, path)
        assert isinstance(event, CollectionStartEvent)
        tag = event.tag
        if tag not in (None, "!", _MAP if isinstance(event, MappingStartEvent) else _SEQ):
            self._problem(event, path, f"unsupported YAML tag {tag!r}")
            self._skip_rest(event, len(path))
            return None
        if isinstance(event, SequenceStartEvent):
            return self._sequence(path)
        return self._mapping(path)

    def _alias(self, event: AliasEvent, path: DataPath) -> Any:
        anchor = self._anchors[event.anchor]
        if event.anchor in self._active:
            self._problem(event, path, "an alias refers to itself")
            return None
        if not self._replays:
            self._counted(anchor.size)
        self._active.add(event.anchor)
        self._replays.append(iter(anchor.events))
        try:
            return self._value(path)
        finally:
            self._replays.pop()
            self._active.discard(event.anchor)

    def _counted(self, values: int) -> None:
        self._count += values
        if self._count > MAX_ALIASED:
            raise AliasBombError

    def _scalar(self, event: ScalarEvent, path: DataPath) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._resolve(event) if event.implicit[0] else STR
        if tag == STR:
            return self._strings.setdefault(event.value, event.value)
        start: Any = event.start_mark
        end: Any = event.end_mark
        node = ScalarNode(tag, event.value, start, end, style=event.style)
        try:
            return self._construct(node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            detail = exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else str(exc)
            self._problem(event, path, f"cannot read the value {event.value!r}: {detail}")
            return None

    def _resolve(self, event: ScalarEvent) -> str:
        value: str = event.value
        for tag, pattern in self._resolvers.get(value[:1], ()):
            if pattern.match(value):
                return tag
        for tag, pattern in self._resolvers.get(None, ()):
            if pattern.match(value):  # pragma: no cover - no wildcard resolver is registered
                return tag
        return STR

    def _sequence(self, path: DataPath) -> list[Any]:
        items: list[Any] = []
        while True:
            event = self._peek_node()
            if isinstance(event, SequenceEndEvent):
                return items
            at = (*path, len(items))
            if self.lines is not None:
                self.lines[at] = self._line_of(event)
            items.append(self._value(at, event))

    def _mapping(self, path: DataPath) -> dict[Any, Any]:
        """Explicit keys win over merged ones, and a merged source's lines only where no explicit key set one."""
        merged: dict[Any, Any] = {}
        explicit: dict[Any, Any] = {}
        #: Each key's event, for its line should the key come again.
        first: dict[Any, Event] = {}
        merged_lines: dict[DataPath, int] | None = None if self.lines is None else {}
        while True:
            key_event = self._peek_node()
            if isinstance(key_event, MappingEndEvent):
                break
            key_scalar = self._scalar_of(key_event)
            if key_scalar is None:
                self._problem(key_event, path, "a key must be a plain value, not a list or mapping")
                self._discard(key_event)
                self._discard()
                continue
            if key_scalar.value == "<<" and self._tag_of(key_scalar) == _MERGE:
                self._merge(path, merged, merged_lines)
                continue
            key = self._value(path, key_event)
            at = (*path, key)
            if key in first:
                line = self._line_of(first[key])
                self._problem(key_event, at, f"duplicate key (first given on line {line})")
                self._discard()
                continue
            first[key] = key_event
            if self.lines is not None:
                self.lines[at] = self._line_of(key_event)
            explicit[key] = self._value(at)
        if self.lines is not None and merged_lines:
            for at, line in merged_lines.items():
                self.lines.setdefault(at, line)
        if not merged:
            return explicit
        merged.update(explicit)
        return merged

    def _scalar_of(self, event: Event) -> ScalarEvent | None:
        """The scalar a key is, through an alias too; ``None`` for a list or mapping."""
        if isinstance(event, AliasEvent):
            event = self._anchors[event.anchor].start
        return event if isinstance(event, ScalarEvent) else None

    def _tag_of(self, event: ScalarEvent) -> str:
        if event.tag is None or event.tag == "!":
            return self._resolve(event) if event.implicit[0] else STR
        return str(event.tag)

    def _merge(self, path: DataPath, into: dict[Any, Any], lines: dict[DataPath, int] | None) -> None:
        """Apply ``<<: *anchor`` or ``<<: [*a, *b]``; earlier sources win, as the YAML merge spec says."""
        event = self._peek_node()
        if isinstance(event, AliasEvent) and isinstance(self._anchors[event.anchor].start, SequenceStartEvent):
            if event.anchor in self._active:
                self._problem(event, path, "an alias refers to itself")
                return
            self._active.add(event.anchor)
            self._replays.append(iter(self._anchors[event.anchor].events))
            try:
                self._merge_sources(self._next(), path, into, lines)
            finally:
                self._replays.pop()
                self._active.discard(event.anchor)
            return
        self._merge_sources(event, path, into, lines)

    def _merge_sources(
        self, event: Event, path: DataPath, into: dict[Any, Any], lines: dict[DataPath, int] | None
    ) -> None:
        if not isinstance(event, SequenceStartEvent):
            self._merge_source(event, path, into, lines)
            return
        while not isinstance(source := self._peek_node(), SequenceEndEvent):
            self._merge_source(source, path, into, lines)

    def _merge_source(
        self, source: Event, path: DataPath, into: dict[Any, Any], lines: dict[DataPath, int] | None
    ) -> None:
        start = self._anchors[source.anchor].start if isinstance(source, AliasEvent) else source
        if not isinstance(start, MappingStartEvent):
            self._problem(source, path, "'<<' must merge a mapping or a list of mappings")
            self._discard(source)
            return
        kept = self.lines
        self.lines = lines
        try:
            built = self._value(path, source)
        finally:
            self.lines = kept
        if isinstance(built, dict):
            for key, value in built.items():
                into.setdefault(key, value)

    def _discard(self, first: Event | None = None) -> None:
        """Read a node that is not used (a duplicate key's value), still registering the anchors inside it."""
        kept_lines, kept_issues = self.lines, self.issues
        self.lines, self.issues = None, []
        try:
            self._value((), first)
        finally:
            self.lines, self.issues = kept_lines, kept_issues

    def _skip_rest(self, event: Event, depth: int) -> None:
        """Read the rest of a node at ``depth`` without building it (too deep, a tag refused, a root not a mapping)."""
        open_collections = 1 if isinstance(event, CollectionStartEvent) else 0
        while open_collections:
            event = self._peek_node()
            if isinstance(event, CollectionStartEvent):
                open_collections += 1
                if depth + open_collections > NESTING_LIMIT:
                    raise NestedTooDeeplyError
            elif isinstance(event, CollectionEndEvent):
                open_collections -= 1

    def _problem(self, event: Event, path: DataPath, message: str) -> None:
        self.issues.append(ConfigIssue(self.file, self._line_of(event), format_path(path), message))


_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_path(path: DataPath) -> str:
    """Render ``("clients", 2, "timezone")`` as ``clients[2].timezone``.

    Integers are list indices here: mapping keys that are not plain words (including integer keys) are
    shown quoted in brackets so a hostile key cannot fake another path or break the one-line format.
    """
    out = ""
    for element in path:
        if isinstance(element, int) and not isinstance(element, bool):
            out += f"[{element}]"
        elif isinstance(element, str) and _SIMPLE_KEY.match(element):
            out += f".{element}" if out else element
        else:
            out += f"[{element!r}]"
    return out
