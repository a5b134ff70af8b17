"""YAML text -> plain data plus a map from each value's path to its line.

PyYAML's ``safe_load`` forgets where values came from and silently keeps the last of two duplicate keys,
so error messages could only say *what* is wrong, not *where*. Building the data ourselves from the parser's
events (``yamlevents``) keeps every key's line (for ``config.yaml:14 clients[2].timezone: ...``) and lets
duplicate keys be reported. Parsing uses libyaml (PyYAML's C parser) when PyYAML was built with it: at
10,000 clients the pure-Python parser alone took most of the start-up. A file libyaml rejects is parsed again
by the pure-Python parser, whose error messages ``yamlerrors`` knows how to explain. The resolver follows
YAML 1.2 for booleans and numbers because YAML 1.1
turns ``on: [mon]`` into ``True: [mon]``, ``digest: off`` into ``False`` and ``at: 21:00`` into 1260.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.events import SequenceStartEvent

from bot.config.errors import ConfigError, ConfigIssue
from bot.config.yamlerrors import explain
from bot.config.yamlevents import AliasBombError, Built, DataPath, EventBuilder, NestedTooDeeplyError, format_path

__all__ = ["DataPath", "SourceDocument", "format_path", "parse_mapping", "read_mapping"]

#: Large enough for a practice of 100,000 clients and more (16.5 MB in the start-up benchmark's form), small
#: enough to refuse a runaway file.
MAX_BYTES = 64_000_000

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


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


if yaml.__with_libyaml__:

    class _CLoader(yaml.CSafeLoader):
        """libyaml's parser with the YAML 1.2 resolvers above; its events carry line marks like the Python ones."""

        yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers

    _FAST_LOADER: type[Any] = _CLoader
else:  # pragma: no cover - PyYAML wheels include libyaml; a source build without it is only slower
    _FAST_LOADER = _Loader


@dataclass(frozen=True)
class SourceDocument:
    """A parsed YAML file: its data, its text, and the name to show in messages.

    Where each value sits (``lines``) is found by parsing the text again, once, when first asked: only a
    problem or a warning needs it, and most loads have neither, while recording it costs a sixth of the parse.
    """

    file: str
    data: dict[Any, Any]
    text: str = field(repr=False)

    @cached_property
    def lines(self) -> dict[DataPath, int]:
        """The line of each value's key (or list item) by its path; ``()`` is the root's."""
        return _parse(self.text, self.file, lines=True).lines

    def line_of(self, path: DataPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor when the value itself is absent."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def issue(self, path: DataPath, message: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.line_of(path), format_path(path), message)


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
        built = _parse(text, file, lines=False)
    except yaml.MarkedYAMLError as exc:
        problem = explain(exc, text)
        raise ConfigError([ConfigIssue(file, problem.line, "", problem.message, problem.column)]) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise _fail(file, line, f"the file contains a character YAML does not allow (U+{code:04X})") from None
    except yaml.YAMLError as exc:
        raise _fail(file, None, f"YAML error: {exc}") from None
    except NestedTooDeeplyError:
        raise _fail(file, None, "the YAML is nested too deeply") from None
    except AliasBombError:
        raise _fail(file, None, "the YAML expands to too many values (alias bomb?)") from None
    if built.root_kind is None:
        raise _fail(file, None, "the file is empty")
    if built.data is None:
        found = "a list" if built.root_kind is SequenceStartEvent else "a single value"
        raise _fail(file, built.root_line, f"expected a mapping of settings (key: value), found {found}")
    if built.issues:
        raise ConfigError(built.issues)
    return SourceDocument(file, built.data, text)


def _parse(text: str, file: str, *, lines: bool) -> Built:
    """Built by libyaml, or by the pure-Python parser where libyaml refuses the text: it raises again, with the
    messages ``explain`` reads."""
    try:
        return _build(_FAST_LOADER, text, file, lines=lines)
    except (yaml.YAMLError, NestedTooDeeplyError):
        return _build(_Loader, text, file, lines=lines)


def _build(loader_class: type[Any], text: str, file: str, *, lines: bool) -> Built:
    loader = loader_class(text)
    try:
        constructor = _Loader("")
        return EventBuilder(
            file,
            loader.get_event,
            lambda node: constructor.construct_object(node, deep=True),
            _Loader.yaml_implicit_resolvers,
            lines=lines,
        ).build()
    finally:
        loader.dispose()


def _fail(file: str, line: int | None, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(file, line, "", message)])
