"""What the running config decides, shared by the inbound, lifecycle and housekeeping parts and by dispatch.

A ``Setup`` is built whole (by ``bot.app.builder``) from a config and its question sets, together with the
coaching parts that read them. ``checkin reload`` replaces ``LiveSetup.current`` with a new one; each part
reads ``current`` when it handles something, so the next event or pass runs on the new config while
conversations in progress and history, which live in the database, carry on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.coaching.brief import SessionBriefs
from bot.coaching.desk import CoachDesk
from bot.coaching.notices import CoachNotices
from bot.config import Config
from bot.conversation import engine
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import TextCatalog, Texts
from bot.delivery.outgoing import Address
from bot.store.models import CheckIn, Client, Coach
from bot.store.people import address_of


class Addresses:
    """Where a person is reached: their own platform address, or everyone on one platform by their id (the
    terminal stands in for every platform that way)."""

    def __init__(self, platform: str | None = None) -> None:
        self._platform = platform

    def __call__(self, person: Client | Coach) -> Address | None:
        if self._platform is not None:
            return (self._platform, person.id)
        return address_of(person)


@dataclass(frozen=True, slots=True)
class AskedSet:
    """A question set in one client language, and the JSON text a check-in that asks it stores."""

    questions: QuestionSet
    #: ``QuestionSet.to_json`` serialized: built once, then bound as it is for every check-in that asks the set.
    stored: str


@dataclass(frozen=True, slots=True)
class Setup:
    """One config with its question sets and the coaching parts built from it, so they always agree."""

    config: Config
    question_sets: Mapping[str, QuestionSet]
    texts: TextCatalog
    addresses: Addresses
    notices: CoachNotices
    desk: CoachDesk
    briefs: SessionBriefs
    #: ``asked``'s sets by (set id, language). It lives and dies with this setup: a reload builds a new one, so a
    #: set whose file changed is never asked, or stored, from the copy made before.
    _asked: dict[tuple[str, str], AskedSet] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def english(self) -> Texts:
        """What coaches, strangers and alerts read; clients read their own language."""
        return self.texts.english

    def coach_name(self, coach_id: str) -> str:
        # A coach removed from config keeps their id as a name until their clients' check-ins close.
        return next((coach.name for coach in self.config.coaches if coach.id == coach_id), coach_id)

    def context(self, client: Client, checkin: CheckIn | None = None) -> engine.Context:
        """What the engine needs to talk to ``client``, in their language and time zone.

        An open ``checkin`` asks the questions stored with it, not the set's current ones: a set changed by a
        reload while it was open would otherwise lack the question it is waiting on.
        """
        asked = checkin.questions if checkin is not None else None
        return engine.Context(
            question_set=QuestionSet.from_json(asked)
            if asked is not None
            else self.asked(client.question_set, client.language).questions,
            texts=self.texts.for_language(client.language),
            timezone=ZoneInfo(client.timezone),
            client_name=client.name.split()[0],
            coach_name=self.coach_name(client.coach_id),
        )

    def asked(self, question_set: str, language: str) -> AskedSet:
        """The set a new check-in asks a client reading ``language``, and what it stores of it.

        Made once per set and language: every client sharing them gets the same questions, and translating and
        serializing them again for each one was a sixth of the CPU a dispatch spent claiming a check-in.
        """
        key = (question_set, language)
        found = self._asked.get(key)
        if found is None:
            questions = self.question_sets[question_set].in_language(language)
            found = self._asked[key] = AskedSet(questions, json.dumps(questions.to_json()))
        return found


class LiveSetup:
    """The setup in force; reload assigns ``current`` and every part sees the new one from its next event."""

    def __init__(self, setup: Setup) -> None:
        self.current = setup
