"""The shape of a question set.

Question sets are data (YAML in ``prompts/question_sets/`` or an admin's own file), so coaches can reword
or add questions without code. Reports, history files and the signal detectors refer to questions by id,
which is why the relationship ids below are fixed names rather than configurable ones.

A set is written once, in its own ``language``; ``translations`` give other languages' texts (question
texts, scale labels, the set's name) by question id, so ids, dimensions and scales are never repeated and
cannot drift apart between languages. A text a translation lacks is asked in the set's own words.

These are plain values the conversation engine reads; ``bot.config.question_schema`` checks a set file and
builds them, so everything here may assume a set that makes sense (a scale question has a scale, and so on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bot.conversation.languages import ENGLISH, candidates

#: The five practices that hold the coaching relationship up (DESIGN §1).
Practice = Literal["hope", "focus", "relationship", "trust", "perspective"]

#: Relationship question id -> the practice it measures. ``support`` measures how the coach monitors and
#: builds the relationship, which the literature names "relationship".
RELATIONSHIP_PRACTICES: dict[str, Practice] = {
    "hope": "hope",
    "focus": "focus",
    "trust": "trust",
    "perspective": "perspective",
    "support": "relationship",
}

Dimension = Literal["progress", "hope", "focus", "relationship", "trust", "perspective", "note", "repair"]


@dataclass(frozen=True, kw_only=True)
class Scale:
    """A numeric scale whose ends, at least, carry words, so a button row is never just numbers."""

    min: int = 1
    max: int = 5
    labels: Mapping[int, str]

    def points(self) -> range:
        return range(self.min, self.max + 1)


@dataclass(frozen=True, kw_only=True)
class AskIf:
    """Ask a follow-up only when one of ``questions`` was answered at or below ``at_most``."""

    any_of: tuple[str, ...]
    at_most: int


@dataclass(frozen=True, kw_only=True)
class Question:
    id: str
    kind: Literal["scale", "text"]
    dimension: Dimension
    text: str
    per_goal: bool = False
    optional: bool = False
    scale: Scale | None = None
    ask_if: AskIf | None = None

    @property
    def practice(self) -> Practice | None:
        return RELATIONSHIP_PRACTICES.get(self.id)


@dataclass(frozen=True, kw_only=True)
class QuestionTexts:
    """One question's words in another language; what is left out stays in the set's own words."""

    text: str | None = None
    labels: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Translation:
    name: str | None = None
    questions: Mapping[str, QuestionTexts] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class QuestionSet:
    id: str
    name: str
    #: The language the texts above are written in.
    language: str = ENGLISH
    questions: tuple[Question, ...]
    translations: Mapping[str, Translation] = field(default_factory=dict)

    def _translation(self, language: str) -> tuple[str, Translation] | None:
        """The translation (and its tag) a client with ``language`` reads; ``None`` for the set's own words."""
        if self.language.casefold() in candidates(language):
            return None
        by_tag = {tag.casefold(): (tag, translation) for tag, translation in self.translations.items()}
        return next((by_tag[tag] for tag in candidates(language) if tag in by_tag), None)

    def in_language(self, language: str) -> QuestionSet:
        """This set in the words of ``language`` where its translation has them; ids and scales unchanged.

        The copy is written in that language and has no translations of its own.
        """
        found = self._translation(language)
        if found is None:
            return self
        tag, translation = found
        return replace(
            self,
            name=translation.name or self.name,
            language=tag,
            questions=tuple(_translated(q, translation.questions.get(q.id)) for q in self.questions),
            translations={},
        )

    def untranslated(self, language: str) -> list[str]:
        """Ids of the questions whose text or labels a client with ``language`` reads in the set's own words."""
        if self.language.casefold() in candidates(language):
            return []
        found = self._translation(language)
        translation = found[1] if found is not None else Translation()
        missing = []
        for question in self.questions:
            texts = translation.questions.get(question.id) or QuestionTexts()
            labelled = question.scale.labels if question.scale is not None else {}
            if texts.text is None or not set(labelled) <= set(texts.labels):
                missing.append(question.id)
        return missing

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def to_json(self) -> dict[str, Any]:
        """The set as stored with a check-in, so the conversation keeps the questions it began with when the
        set's file changes (a reload) while it is open. Translations are left out: the stored copy is the one
        in the client's language (``in_language``)."""
        return {
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "questions": [_question_json(q) for q in self.questions],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuestionSet:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            language=str(data["language"]),
            questions=tuple(_question_from_json(q) for q in data["questions"]),
        )


def _question_json(question: Question) -> dict[str, Any]:
    scale, ask_if = question.scale, question.ask_if
    return {
        "id": question.id,
        "kind": question.kind,
        "dimension": question.dimension,
        "text": question.text,
        "per_goal": question.per_goal,
        "optional": question.optional,
        "scale": None
        if scale is None
        else {"min": scale.min, "max": scale.max, "labels": {str(k): v for k, v in scale.labels.items()}},
        "ask_if": None if ask_if is None else {"any_of": list(ask_if.any_of), "at_most": ask_if.at_most},
    }


def _question_from_json(data: Mapping[str, Any]) -> Question:
    scale, ask_if = data.get("scale"), data.get("ask_if")
    return Question(
        id=str(data["id"]),
        kind=data["kind"],
        dimension=data["dimension"],
        text=str(data["text"]),
        per_goal=bool(data["per_goal"]),
        optional=bool(data["optional"]),
        scale=None
        if scale is None
        else Scale(
            min=int(scale["min"]), max=int(scale["max"]), labels={int(k): str(v) for k, v in scale["labels"].items()}
        ),
        ask_if=None if ask_if is None else AskIf(any_of=tuple(ask_if["any_of"]), at_most=int(ask_if["at_most"])),
    )


def _translated(question: Question, texts: QuestionTexts | None) -> Question:
    if texts is None:
        return question
    translated = question if texts.text is None else replace(question, text=texts.text)
    if question.scale is not None and texts.labels:
        scale = replace(question.scale, labels={**question.scale.labels, **texts.labels})
        translated = replace(translated, scale=scale)
    return translated
