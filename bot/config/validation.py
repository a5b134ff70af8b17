"""Pydantic errors -> ``ConfigIssue`` values that point at YAML lines.

Pydantic knows *which* value is wrong (its ``loc``) but not where it was written; the
``SourceDocument`` line map bridges the two. The messages are reworded a little because an admin reads
them, not a Python developer ("unknown key 'timezon' (did you mean 'timezone'?)" rather than
"Extra inputs are not permitted").
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.config.errors import ConfigIssue, did_you_mean
from bot.config.yamlsource import DataPath, SourceDocument

M = TypeVar("M", bound=BaseModel)

_PREFIXES = ("Value error, ", "Assertion failed, ")


def validate_document(model: type[M], document: SourceDocument) -> tuple[M | None, list[ConfigIssue]]:
    """Validate ``document`` as ``model``; return the model, or ``None`` and every issue found."""
    try:
        return model.model_validate(document.data), []
    except ValidationError as exc:
        errors = _without_knock_on_errors(exc.errors(include_url=False))
        return None, [_to_issue(error, model, document) for error in errors]


def _without_knock_on_errors(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop "should have at least 1 item" for a list whose items failed: it only confuses the admin."""
    failed_inside = {error["loc"][:end] for error in errors for end in range(len(error["loc"]))}
    return [error for error in errors if not (error["type"] == "too_short" and error["loc"] in failed_inside)]


def _to_issue(error: ErrorDetails, model: type[BaseModel], document: SourceDocument) -> ConfigIssue:
    path = _data_path(document.data, error["loc"], missing=error["type"] == "missing")
    return document.issue(path, _message(error, model))


def _data_path(data: Any, loc: tuple[int | str, ...], *, missing: bool) -> DataPath:
    """Follow ``loc`` through the data, skipping the names pydantic adds for union members."""
    path: list[Any] = []
    node = data
    for position, element in enumerate(loc):
        if _has(node, element):
            node = node[element]
        elif not (missing and position == len(loc) - 1):
            continue
        path.append(element)
    return tuple(path)


def _has(node: Any, element: int | str) -> bool:
    if isinstance(node, dict):
        return element in node
    return isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node)


def _message(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = error["loc"][-1]
        fields = _fields_at(model, error["loc"][:-1])
        return f"unknown key '{key}'{did_you_mean(str(key), fields)}"
    if kind == "missing":
        return "required, but missing"
    message = error["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    return message


def _fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys valid at ``loc``, found by walking the model's type annotations."""
    annotation: Any = model
    for element in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(element))
            if field is not None:
                annotation = field.annotation
        elif get_origin(annotation) in (list, tuple, dict):
            annotation = get_args(annotation)[-1 if get_origin(annotation) is dict else 0]
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        # The admin writes the alias (``from``), not the Python name (``first``).
        return [field.alias or name for name, field in annotation.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``X | None`` so the walk sees the type underneath."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
