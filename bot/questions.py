"""The shape of a question set.

Question sets are data (YAML in ``prompts/question_sets/`` or an admin's own file), so coaches can reword
or add questions without code. Reports, history files and the signal detectors refer to questions by id,
which is why the relationship ids below are fixed names rather than configurable ones.
"""

from __future__ import annotations

import string
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    id: str = Field(pattern=_ID)
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
        placeholders = {name for _, name, _, _ in string.Formatter().parse(self.text) if name}
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


class QuestionSet(_Strict):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    questions: tuple[Question, ...] = Field(min_length=1)

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

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)
