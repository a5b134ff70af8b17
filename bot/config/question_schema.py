"""The schema of a question-set file: what ``checkin validate`` checks, and the plain ``QuestionSet`` it builds.

The conversation engine reads question sets as plain frozen dataclasses (``bot.conversation.questions``) and
never sees pydantic; the checks that make a set safe to ask (a scale's ends are labelled, an ``ask_if`` refers
to an earlier scale question, a translation keeps the placeholders) live here, next to the other config files'
checks, and each reports at its own line through ``validate_document``.
"""

from __future__ import annotations

import re
import string
from typing import Any, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from bot.config.fields import Strict
from bot.conversation.languages import ENGLISH, LANGUAGE_TAG
from bot.conversation.questions import AskIf, Dimension, Question, QuestionSet, QuestionTexts, Scale, Translation

_ID = r"^[a-z][a-z0-9_]*$"
#: A question id travels in Telegram's 64-byte button data with the check-in, a goal id of up to 32 characters
#: and the value ("{check-in}:{question}:{goal}:skip"), which leaves it 16.
MAX_QUESTION_ID_LENGTH = 16


class ScaleSchema(Strict):
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

    def build(self) -> Scale:
        return Scale(min=self.min, max=self.max, labels=dict(self.labels))


class AskIfSchema(Strict):
    """Ask a follow-up only when one of ``questions`` was answered at or below ``at_most``."""

    any_of: tuple[str, ...] = Field(min_length=1)
    at_most: int

    def build(self) -> AskIf:
        return AskIf(any_of=self.any_of, at_most=self.at_most)


class QuestionSchema(Strict):
    id: str = Field(pattern=_ID, max_length=MAX_QUESTION_ID_LENGTH)
    kind: Literal["scale", "text"]
    dimension: Dimension
    text: str = Field(min_length=1)
    per_goal: bool = False
    optional: bool = False
    scale: ScaleSchema | None = None
    ask_if: AskIfSchema | None = None

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

    def build(self) -> Question:
        return Question(
            id=self.id,
            kind=self.kind,
            dimension=self.dimension,
            text=self.text,
            per_goal=self.per_goal,
            optional=self.optional,
            scale=self.scale.build() if self.scale is not None else None,
            ask_if=self.ask_if.build() if self.ask_if is not None else None,
        )


class QuestionTextsSchema(Strict):
    """One question's words in another language; what is left out stays in the set's own words."""

    text: str | None = Field(None, min_length=1)
    labels: dict[int, str] = Field(default_factory=dict)

    def build(self) -> QuestionTexts:
        return QuestionTexts(text=self.text, labels=dict(self.labels))


class TranslationSchema(Strict):
    name: str | None = Field(None, min_length=1)
    questions: dict[str, QuestionTextsSchema] = Field(default_factory=dict)

    def build(self) -> Translation:
        return Translation(name=self.name, questions={key: texts.build() for key, texts in self.questions.items()})


class QuestionSetSchema(Strict):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    #: The language the texts above are written in.
    language: str = Field(ENGLISH, pattern=LANGUAGE_TAG)
    questions: tuple[QuestionSchema, ...] = Field(min_length=1)
    translations: dict[str, TranslationSchema] = Field(default_factory=dict)

    @field_validator("translations")
    @classmethod
    def _translations_fit(
        cls, translations: dict[str, TranslationSchema], info: ValidationInfo
    ) -> dict[str, TranslationSchema]:
        """Each translation names questions of this set, labels points on their scales, and keeps placeholders.

        A field validator rather than a model validator so that each problem is reported at its own line.
        """
        questions: tuple[QuestionSchema, ...] | None = info.data.get("questions")
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
                scale = question.scale
                points = range(scale.min, scale.max + 1) if scale is not None else range(0)
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
        seen: dict[str, QuestionSchema] = {}
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

    def build(self) -> QuestionSet:
        """The plain set the conversation engine asks from."""
        return QuestionSet(
            id=self.id,
            name=self.name,
            language=self.language,
            questions=tuple(question.build() for question in self.questions),
            translations={tag: translation.build() for tag, translation in self.translations.items()},
        )


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _is_tag(value: str) -> bool:
    return re.fullmatch(LANGUAGE_TAG, value) is not None
