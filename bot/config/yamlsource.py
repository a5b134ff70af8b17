"""YAML text -> plain data plus a map from each value's path to its line.

PyYAML's ``safe_load`` forgets where values came from and silently keeps the last of two duplicate keys,
so error messages could only say *what* is wrong, not *where*. Composing the node graph and building
the data ourselves keeps every key's line (for ``config.yaml:14 clients[2].timezone: ...``) and lets
duplicate keys be reported. Composing uses libyaml (PyYAML's C parser) when PyYAML was built with it: at
10,000 clients the pure-Python parser alone took most of the start-up. A file libyaml rejects is parsed again
by the pure-Python parser, whose error messages ``yamlerrors`` knows how to explain. The resolver follows
YAML 1.2 for booleans and numbers because YAML 1.1
turns ``on: [mon]`` into ``True: [mon]``, ``digest: off`` into ``False`` and ``at: 21:00`` into 1260.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.config.errors import ConfigError, ConfigIssue
from bot.config.yamlerrors import explain

#: A value's address: mapping keys and list indices from the document root.
DataPath = tuple[Any, ...]

#: Large enough for a practice with thousands of clients, small enough to refuse a runaway file.
MAX_BYTES = 20_000_000
#: Aliases can expand a tiny file exponentially ("billion laughs"); stop building long before that hurts.
MAX_NODES = 2_000_000
MAX_DEPTH = 64

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class _Loader(yaml.SafeLoader):
    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own per-class registry
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


_STR = "tag:yaml.org,2002:str"

if yaml.__with_libyaml__:

    class _CLoader(yaml.CSafeLoader):
        """libyaml's composer with the YAML 1.2 resolvers above; its nodes carry line marks like the Python ones."""

        yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers

        def descend_resolver(self, current_node: Node | None, current_index: object) -> None:
            """No path resolvers are registered, so the per-node bookkeeping PyYAML does for them is skipped."""

        def ascend_resolver(self) -> None:
            """See ``descend_resolver``."""

    _FAST_LOADER: type[Any] = _CLoader
else:  # pragma: no cover - PyYAML wheels include libyaml; a source build without it is only slower
    _FAST_LOADER = _Loader


@dataclass(frozen=True)
class SourceDocument:
    """A parsed YAML file: its data, where each value sits, and the name to show in messages."""

    file: str
    data: dict[Any, Any]
    lines: dict[DataPath, int]

    def line_of(self, path: DataPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor when the value itself is absent."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def issue(self, path: DataPath, message: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.line_of(path), format_path(path), message)


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


def read_mapping(path: Path, file: str) -> SourceDocument:
    """Read and parse ``path``; every way it can fail becomes a ``ConfigError`` naming ``file``."""
    try:
        if path.is_dir():
            raise _fail(file, None, "is a directory, not a YAML file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise _fail(file, None, "no such file") from None
    except OSError as exc:
        raise _fail(file, None, f"cannot read the file: {exc.strerror or exc}") from None
    except ValueError:  # a path with a NUL byte, which no file system accepts
        raise _fail(file, None, "not a valid file name") from None
    if len(raw) > MAX_BYTES:
        raise _fail(file, None, f"the file is larger than {MAX_BYTES // 1_000_000} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(file, line, "the file is not UTF-8 text") from None
    return parse_mapping(text, file)


def parse_mapping(text: str, file: str) -> SourceDocument:
    """Parse ``text`` whose top level must be a mapping of settings."""
    try:
        try:
            root = _compose(_FAST_LOADER, text)
        except (yaml.YAMLError, RecursionError):
            root = _compose(_Loader, text)  # raises again, with the messages ``explain`` reads
    except yaml.MarkedYAMLError as exc:
        problem = explain(exc, text)
        raise ConfigError([ConfigIssue(file, problem.line, "", problem.message, problem.column)]) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise _fail(file, line, f"the file contains a character YAML does not allow (U+{code:04X})") from None
    except yaml.YAMLError as exc:
        raise _fail(file, None, f"YAML error: {exc}") from None
    except RecursionError:
        raise _fail(file, None, "the YAML is nested too deeply") from None
    if root is None:
        raise _fail(file, None, "the file is empty")
    if not isinstance(root, MappingNode):
        found = "a list" if isinstance(root, SequenceNode) else "a single value"
        raise _fail(file, root.start_mark.line + 1, f"expected a mapping of settings (key: value), found {found}")
    if _expanded_size(root, {}, 0) > MAX_NODES:
        raise _fail(file, None, "the YAML expands to too many values (alias bomb?)")
    builder = _Builder(file, _Loader(""))
    data = builder.build(root)
    if builder.issues:
        raise ConfigError(builder.issues)
    return SourceDocument(file, data, builder.lines)


def _compose(loader_class: type[Any], text: str) -> Node | None:
    loader = loader_class(text)
    try:
        root: Node | None = loader.get_single_node()
    finally:
        loader.dispose()
    return root


def _fail(file: str, line: int | None, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(file, line, "", message)])


def _expanded_size(node: Node, sizes: dict[int, int], depth: int) -> int:
    """How many values the document becomes once aliases are expanded, counted without expanding them."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # provisional: a self-referencing alias is reported by the builder instead
    if isinstance(node, ScalarNode) or depth > MAX_DEPTH:
        return 1
    children: list[Node] = []
    for child in node.value:
        children.extend(child if isinstance(child, tuple) else (child,))
    total = 1 + sum(_expanded_size(child, sizes, depth + 1) for child in children)
    sizes[id(node)] = total
    return total


class _Builder:
    """Walks composed nodes into dicts, lists and scalars, recording each entry's line."""

    def __init__(self, file: str, constructor: _Loader) -> None:
        self.file = file
        self.constructor = constructor
        self.lines: dict[DataPath, int] = {}
        self.issues: list[ConfigIssue] = []
        self._active: set[int] = set()

    def build(self, root: MappingNode) -> dict[Any, Any]:
        self.lines[()] = root.start_mark.line + 1
        data = self._value(root, ())
        return data if isinstance(data, dict) else {}

    def _problem(self, node: Node, path: DataPath, message: str) -> None:
        self.issues.append(ConfigIssue(self.file, node.start_mark.line + 1, format_path(path), message))

    def _value(self, node: Node, path: DataPath) -> Any:
        if len(path) > MAX_DEPTH:
            self._problem(node, path, "nested too deeply")
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._active:
            self._problem(node, path, "an alias refers to itself")
            return None
        if node.tag not in (_MAP, _SEQ):
            self._problem(node, path, f"unsupported YAML tag {node.tag!r}")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, path)
            assert isinstance(node, MappingNode)
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: ScalarNode, path: DataPath) -> Any:
        if node.tag == _STR:
            return node.value  # what the constructor returns for a string, without its per-node bookkeeping
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            detail = exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else str(exc)
            self._problem(node, path, f"cannot read the value {node.value!r}: {detail}")
            return None

    def _sequence(self, node: SequenceNode, path: DataPath) -> list[Any]:
        items = []
        for index, child in enumerate(node.value):
            self.lines[(*path, index)] = child.start_mark.line + 1
            items.append(self._value(child, (*path, index)))
        return items

    def _mapping(self, node: MappingNode, path: DataPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        entries: list[tuple[Any, int, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge(value_node, path, result)
                continue
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, path, "a key must be a plain value, not a list or mapping")
                continue
            key = self._scalar(key_node, path)
            line = key_node.start_mark.line + 1
            if key in first_line:
                self._problem(key_node, (*path, key), f"duplicate key (first given on line {first_line[key]})")
                continue
            first_line[key] = line
            entries.append((key, line, value_node))
        for key, line, value_node in entries:
            self.lines[(*path, key)] = line
            result[key] = self._value(value_node, (*path, key))
        return result

    def _merge(self, value_node: Node, path: DataPath, into: dict[Any, Any]) -> None:
        """Apply ``<<: *anchor``; keys written explicitly win, as the YAML merge spec says."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self._problem(source, path, "'<<' must merge a mapping or a list of mappings")
                continue
            merged = self._value(source, path)
            if isinstance(merged, dict):
                for key, value in merged.items():
                    into.setdefault(key, value)
