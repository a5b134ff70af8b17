"""The shape of a question set.

Question sets are data (YAML in ``prompts/question_sets/`` or an admin's own file), so coaches can reword
or add questions without code. Reports, history files and the signal detectors refer to questions by id,
which is why the relationship ids below are fixed names rather than configurable ones.

A set is written once, in its own ``language``; ``translations`` give other languages' texts (question
texts, scale labels, the set's name) by question id, so ids, dimensions and scales are never repeated and
cannot drift apart between languages. A text a translation lacks is asked in the set's own words.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from bot.conversation.languages import ENGLISH, LANGUAGE_TAG, candidates

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

_ID = r"^[a-z][a-z0-9_]*$"
#: A question id travels in Telegram's 64-byte button data with the check-in, a goal id of up to 32 characters
#: and the value ("{check-in}:{question}:{goal}:skip"), which leaves it 16.
MAX_QUESTION_ID_LENGTH = 16


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scale(_Strict):
    """A numeric scale whose ends, at least, carry words, so a button row is never just numbers."""

    min: int = 1
    max: int = 5
    labels: dict[int, str]

    @model_validator(mode="after")
    def _labelled_ends(self) -> Self:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be greater than min ({self.min})")
        if self.max - self.min > 10:
            raise ValueError("a scale may have at most 11 points, or it stops fitting on a phone")
        missing = [end for end in (self.min, self.max) if end not in self.labels]
        if missing:
            raise ValueError(f"labels must name both ends of the scale; missing {missing}")
        outside = sorted(point for point in self.labels if not self.min <= point <= self.max)
        if outside:
            raise ValueError(f"labels {outside} lie outside the scale {self.min}..{self.max}")
        return self

    def points(self) -> range:
        return range(self.min, self.max + 1)


class AskIf(_Strict):
    """Ask a follow-up only when one of ``questions`` was answered at or below ``at_most``."""

    any_of: tuple[str, ...] = Field(min_length=1)
    at_most: int


class Question(_Strict):
    id: str = Field(pattern=_ID, max_length=MAX_QUESTION_ID_LENGTH)
    kind: Literal["scale", "text"]
    dimension: Dimension
    text: str = Field(min_length=1)
    per_goal: bool = False
    optional: bool = False
    scale: Scale | None = None
    ask_if: AskIf | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "scale" and self.scale is None:
            raise ValueError("a scale question needs a 'scale'")
        if self.kind == "text" and self.scale is not None:
            raise ValueError("a text question cannot have a 'scale'")
        placeholders = _placeholders(self.text)
        allowed = {"goal"} if self.per_goal else set()
        unknown = placeholders - allowed
        if unknown:
            hint = " (only per_goal questions may use {goal})" if "goal" in unknown else ""
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in text{hint}")
        if self.per_goal and "goal" not in placeholders:
            raise ValueError("a per_goal question must name the goal with {goal} in its text")
        return self

    @property
    def practice(self) -> Practice | None:
        return RELATIONSHIP_PRACTICES.get(self.id)


class QuestionTexts(_Strict):
    """One question's words in another language; what is left out stays in the set's own words."""

    text: str | None = Field(None, min_length=1)
    labels: dict[int, str] = {}


class Translation(_Strict):
    name: str | None = Field(None, min_length=1)
    questions: dict[str, QuestionTexts] = {}


class QuestionSet(_Strict):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    #: The language the texts above are written in.
    language: str = Field(ENGLISH, pattern=LANGUAGE_TAG)
    questions: tuple[Question, ...] = Field(min_length=1)
    translations: dict[str, Translation] = {}

    @field_validator("translations")
    @classmethod
    def _translations_fit(cls, translations: dict[str, Translation], info: ValidationInfo) -> dict[str, Translation]:
        """Each translation names questions of this set, labels points on their scales, and keeps placeholders.

        A field validator rather than a model validator so that each problem is reported at its own line.
        """
        questions: tuple[Question, ...] | None = info.data.get("questions")
        if questions is None:
            return translations  # the questions failed and are reported on their own
        by_id = {question.id: question for question in questions}
        errors: list[InitErrorDetails] = []

        def problem(loc: tuple[str | int, ...], message: str, value: Any) -> None:
            kind = PydanticCustomError("translation", "{message}", {"message": message})
            errors.append(InitErrorDetails(type=kind, loc=loc, input=value))

        for language, translation in translations.items():
            if not _is_tag(language):
                problem((language,), "must be a language tag such as 'de' or 'pt-BR'", language)
            elif language.casefold() == str(info.data.get("language", "")).casefold():
                problem((language,), f"'{language}' is the set's own language; translate into another", language)
            for question_id, texts in translation.questions.items():
                question = by_id.get(question_id)
                if question is None:
                    problem((language, "questions", question_id), f"no question '{question_id}' in this set", texts)
                    continue
                if texts.text is not None and _placeholders(texts.text) != _placeholders(question.text):
                    wanted = sorted(_placeholders(question.text)) or "none"
                    problem((language, "questions", question_id, "text"), f"placeholders must be {wanted}", texts.text)
                points = question.scale.points() if question.scale is not None else range(0)
                outside = sorted(point for point in texts.labels if point not in points)
                if outside:
                    where = f"scale {points.start}..{points.stop - 1}" if points else "a text question"
                    message = f"labels {outside} are not points of {where}"
                    problem((language, "questions", question_id, "labels"), message, texts.labels)
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return translations

    @model_validator(mode="after")
    def _references(self) -> Self:
        seen: dict[str, Question] = {}
        for question in self.questions:
            if question.id in seen:
                raise ValueError(f"question id '{question.id}' is used twice")
            if question.ask_if is not None:
                for ref in question.ask_if.any_of:
                    earlier = seen.get(ref)
                    if earlier is None:
                        raise ValueError(
                            f"question '{question.id}' asks if '{ref}' was low, "
                            "but no scale question with that id comes before it"
                        )
                    if earlier.kind != "scale":
                        raise ValueError(f"question '{question.id}' depends on '{ref}', which is not a scale")
            seen[question.id] = question
        return self

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
        return self.model_copy(
            update={
                "name": translation.name or self.name,
                "language": tag,
                "questions": tuple(_translated(q, translation.questions.get(q.id)) for q in self.questions),
                "translations": {},
            }
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


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _is_tag(value: str) -> bool:
    return re.fullmatch(LANGUAGE_TAG, value) is not None


def _translated(question: Question, texts: QuestionTexts | None) -> Question:
    if texts is None:
        return question
    update: dict[str, object] = {}
    if texts.text is not None:
        update["text"] = texts.text
    if question.scale is not None and texts.labels:
        labels: Mapping[int, str] = {**question.scale.labels, **texts.labels}
        update["scale"] = question.scale.model_copy(update={"labels": dict(labels)})
    return question.model_copy(update=update)
