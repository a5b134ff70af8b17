"""``load_config``: read, validate and cross-check ``config.yaml`` in one pass that reports everything."""

from __future__ import annotations

from pathlib import Path

from bot.config.errors import ConfigError, ConfigIssue
from bot.config.models import Config
from bot.config.question_files import admin_question_set_file, builtin_question_set_names, load_question_set_file
from bot.config.references import check_references
from bot.config.validation import validate_document
from bot.config.yamlsource import SourceDocument, read_mapping


def load_config(path: Path) -> Config:
    """Load ``path`` or raise ``ConfigError`` with every problem in it and in its question-set files."""
    return load_config_document(path)[0]


def load_config_document(path: Path) -> tuple[Config, SourceDocument]:
    """``load_config``, also giving the parsed file, for readers of its lines (``checkin validate``'s warnings)
    that would otherwise parse a large file a second time."""
    document = read_mapping(path, str(path))
    config, issues = validate_document(Config, document)
    builtin = builtin_question_set_names()
    issues += check_references(document, builtin)
    issues = sorted(set(issues), key=lambda issue: (issue.line or 0, issue.path))
    issues += _question_set_issues(document, path, builtin)
    if issues:
        raise ConfigError(issues)
    assert config is not None
    return config, document


def _question_set_issues(document: SourceDocument, config_path: Path, builtin: list[str]) -> list[ConfigIssue]:
    """Validate the admin's question-set files so that ``checkin validate`` covers them too."""
    written_sets = document.data.get("question_sets")
    if not isinstance(written_sets, dict):
        return []
    issues: list[ConfigIssue] = []
    for name, written in written_sets.items():
        if not isinstance(name, str) or not isinstance(written, str) or not written or name in builtin:
            continue
        path, file = admin_question_set_file(config_path, written)
        if not path.is_file():
            issues.append(document.issue(("question_sets", name), f"question set file '{file}' not found"))
            continue
        try:
            load_question_set_file(path, file, name)
        except ConfigError as exc:
            issues += exc.issues
    return issues
