"""What ``checkin validate`` tells an admin about languages: who will read English instead of their own.

These are warnings, not errors: a client whose language has no texts still gets every check-in, in English,
and a translation that lacks a text sends that one text in English. The admin should know, and the bot
should still run, so ``cli.py`` prints them after the summary and exits 0.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.config import Config, ConfigIssue
from bot.config.question_files import builtin_question_set_names
from bot.config.yamlsource import SourceDocument
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import TextCatalog


def language_warnings(
    document: SourceDocument, config: Config, question_sets: Mapping[str, QuestionSet], catalog: TextCatalog
) -> list[ConfigIssue]:
    """Texts the shipped languages lack, then each client whose language or question set falls back."""
    warnings = _shipped_gaps(question_sets, catalog)
    for index, client in enumerate(config.clients):
        where = ("clients", index, "language")
        if not catalog.covers(client.language):
            warnings.append(document.issue(where, f"no texts for '{client.language}'; English is used"))
            continue
        question_set = question_sets.get(client.question_set)
        if question_set is None or client.question_set in builtin_question_set_names():
            continue  # gaps in a built-in set are reported once above, not for every client
        if untranslated := question_set.untranslated(client.language):
            message = _set_gap(client.question_set, question_set, client.language, untranslated)
            warnings.append(document.issue(where, message))
    return warnings


def _shipped_gaps(question_sets: Mapping[str, QuestionSet], catalog: TextCatalog) -> list[ConfigIssue]:
    warnings = []
    for language in catalog.languages:
        if missing := catalog.for_language(language).missing:
            count = f"{len(missing)} text{'s' if len(missing) > 1 else ''}"
            message = f"{count} missing ({', '.join(missing)}); English is used"
            warnings.append(ConfigIssue(catalog.source(language), None, "", message))
    for name in builtin_question_set_names():
        question_set = question_sets[name]
        for language in catalog.languages:
            if untranslated := question_set.untranslated(language):
                file = f"prompts/question_sets/{name}.yaml"
                warnings.append(ConfigIssue(file, None, "", _set_gap(name, question_set, language, untranslated)))
    return warnings


def _set_gap(name: str, question_set: QuestionSet, language: str, missing: list[str]) -> str:
    if len(missing) == len(question_set.questions):
        return f"question set '{name}' has no '{language}' texts; its questions are asked in '{question_set.language}'"
    return (
        f"question set '{name}' has no '{language}' texts for {', '.join(missing)}; "
        f"those are asked in '{question_set.language}'"
    )
