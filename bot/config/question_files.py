"""Question-set files checked with the config's line-precise machinery.

This lives inside ``bot.config`` (rather than in ``bot.config.question_sets``, which builds on it) because
``load_config`` validates the admin's set files too, so ``checkin validate`` reports their mistakes.
"""

from __future__ import annotations

import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from bot.config.errors import ConfigError
from bot.config.question_schema import QuestionSetSchema
from bot.config.validation import validate_document
from bot.config.yamlsource import SourceDocument, read_mapping
from bot.conversation.questions import QuestionSet


def builtin_folder() -> Traversable:
    return resources.files("prompts") / "question_sets"


def builtin_question_set_names() -> list[str]:
    """Names of the sets shipped with the bot (file stems), without parsing them."""
    return sorted(
        entry.name.removesuffix(".yaml") for entry in builtin_folder().iterdir() if entry.name.endswith(".yaml")
    )


def admin_question_set_file(config_path: Path, written: str) -> tuple[Path, str]:
    """Where an admin set lives (relative to the config file) and how to name it in messages."""
    path = config_path.parent / written
    return path, os.path.normpath(path)


def load_question_set_file(path: Path, file: str, name: str) -> QuestionSet:
    """Read one admin set whose ``id`` must equal the ``name`` the config gives it."""
    return validate_question_set(read_mapping(path, file), name)


def validate_question_set(document: SourceDocument, name: str) -> QuestionSet:
    schema, issues = validate_document(QuestionSetSchema, document)
    if schema is not None and schema.id != name:
        message = f"the set's id '{schema.id}' must match its name in the config, '{name}'"
        issues.append(document.issue(("id",), message))
    if issues:
        raise ConfigError(issues)
    assert schema is not None
    return schema.build()
