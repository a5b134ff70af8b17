"""Every question set a client may use: the built-in ones in ``prompts/question_sets`` and an admin's own.

Both kinds go through the same line-precise loader as ``config.yaml``, so a broken set is reported with
its own file name and line rather than as a stack trace at the first check-in.
"""

from __future__ import annotations

from pathlib import Path

from bot.config.errors import ConfigError, ConfigIssue
from bot.config.models import Config
from bot.config.question_files import (
    admin_question_set_file,
    builtin_folder,
    builtin_question_set_names,
    load_question_set_file,
    validate_question_set,
)
from bot.config.yamlsource import parse_mapping
from bot.conversation.questions import QuestionSet


def load_builtin_question_sets() -> dict[str, QuestionSet]:
    sets: dict[str, QuestionSet] = {}
    issues: list[ConfigIssue] = []
    for name in builtin_question_set_names():
        file = f"prompts/question_sets/{name}.yaml"
        try:
            text = (builtin_folder() / f"{name}.yaml").read_text(encoding="utf-8")
            sets[name] = validate_question_set(parse_mapping(text, file), name)
        except ConfigError as exc:
            issues += exc.issues
    if issues:
        raise ConfigError(issues)
    return sets


def load_question_sets(config: Config, config_path: Path) -> dict[str, QuestionSet]:
    """Every set by name; raises ``ConfigError`` listing the problems of all broken files at once."""
    sets = load_builtin_question_sets()
    issues: list[ConfigIssue] = []
    for name, written in config.question_sets.items():
        path, file = admin_question_set_file(config_path, written)
        try:
            sets[name] = load_question_set_file(path, file, name)
        except ConfigError as exc:
            issues += exc.issues
    if issues:
        raise ConfigError(issues)
    return sets
