"""``words`` and ``wellbeing``: what the client wrote, read for what it says about the coaching.

A note is read sentence by sentence: cues from ``prompts/risk_phrases.yaml`` name a theme (not being heard,
advice imposed, feeling judged, doubts about confidentiality, not a priority, value for money, wanting to stop,
dread, feeling pushed, the coach not getting it), a negation before a cue cancels it while a hedge ("not sure",
"a bit") does not, and the target decides whose behaviour the cue describes: "my boss is not listening" is a
hard week at work (``wellbeing`` at most), "you are not listening" is about the relationship (``words``).
Where no cue fires, a small linear model (``words_model``) may still read a note that names the coach or no one
as speaking against the coaching: when it is sure of that (one minus its certainty of "none") on its own, and
when it is only fairly sure if the same check-in's relationship answers are also below the client's usual. The
theme is the one it finds likeliest. Either way the alert says which words it read as risk and as what (and,
for the second, the scores), so a coach can disagree with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from bot.conversation.questions import Question
from bot.conversation.texts import Texts
from bot.signals.detectors.common import indexed, number
from bot.signals.detectors.lemmas import lemma
from bot.signals.detectors.lexicon import (
    AFFECT,
    ALONE,
    BROAD,
    COACH,
    COMPLAINT,
    HEDGE,
    NOT_COACH,
    OTHER,
    REASSURANCE,
    WELLBEING,
    Language,
    RiskPhrases,
    RiskPhrasesError,
    Theme,
    load_risk_phrases,
    parse_risk_phrases,
)
from bot.signals.detectors.wording import Hit, Token, sentences, tokens
from bot.signals.detectors.words_model import GRAM, LEMMA, NEGATED, THEY, YOU, Sentence, features, routine
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal

__all__ = [
    "RiskPhrases",
    "RiskPhrasesError",
    "detect_words",
    "load_risk_phrases",
    "model_features",
    "parse_risk_phrases",
    "read",
]

#: Cues that are not a theme's, which the model reads as features: a theme's own cue never reaches it, since
#: the model is asked only about notes no theme cue read.
MODEL_CUES = frozenset({HEDGE, AFFECT, REASSURANCE, COMPLAINT, WELLBEING})
#: Text answers whose question is itself about the coach, so a cue needs no target there.
ABOUT_THE_COACH = frozenset({"repair"})
#: At most this many characters of the client's sentence are quoted to the coach.
QUOTE_LIMIT = 240
#: The client's usual alliance index is the mean of up to this many earlier check-ins (the ``drop`` detector's
#: default baseline), and needs at least ``USUAL_MIN`` of them.
USUAL_BASELINE, USUAL_MIN = 8, 3
#: Only this many characters of a text are read: far more than any note, and it bounds the time a hostile one takes.
READ_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Finding:
    """One theme read in a text: the words read as risk, the sentence they stand in, and whether cues or the
    model read it."""

    theme: str
    words: str
    quote: str
    by_model: bool


@dataclass(frozen=True, slots=True)
class Reading:
    language: str
    findings: tuple[Finding, ...]
    #: The sentence speaking of a hard time outside the coaching, if any.
    wellbeing: str | None
    #: What the model read at ``model_threshold_scores`` or more but below ``model_threshold``: a ``words``
    #: signal only if the same check-in's relationship answers are below the client's usual.
    tentative: Finding | None = None


@dataclass(frozen=True, slots=True)
class _Sentence:
    lo: int
    hi: int
    quote: str
    hits: list[Hit]


def detect_words(
    entry: HistoryEntry,
    texts: Texts,
    phrases: RiskPhrases,
    earlier: Sequence[HistoryEntry] = (),
    questions: Sequence[Question] = (),
) -> list[Signal]:
    """At most one ``words`` signal per theme and one ``wellbeing`` signal per check-in; ``earlier`` (the
    client's check-ins before ``entry``) and ``questions`` (the relationship questions) give the client's usual
    scores, which a tentative reading of the model needs to fall short of."""
    signals: list[Signal] = []
    seen: set[str] = set()
    wellbeing: Signal | None = None
    below: list[tuple[float, float] | None] = []
    for question_id, text in entry.texts.items():
        reading = read(text, phrases, about_the_coach=question_id in ABOUT_THE_COACH)
        confirmed: list[tuple[Finding, tuple[float, float] | None]] = [(f, None) for f in reading.findings]
        if reading.tentative is not None:
            if not below:
                below.append(_below_usual(entry, earlier, questions, phrases.scores_below_usual))
            if below[0] is not None:
                confirmed.append((reading.tentative, below[0]))
        for finding, scores in confirmed:
            if finding.theme in seen:
                continue
            seen.add(finding.theme)
            theme = phrases.themes[finding.theme]
            meaning = _explain(theme, finding, texts.language, phrases, scores)
            reason = texts.render("reason_words", question=question_id, meaning=meaning, text=finding.quote)
            signals.append(
                Signal("words", theme.practice, reason, question_id, None, words=finding.quote, theme=finding.theme)
            )
        if wellbeing is None and reading.wellbeing is not None:
            reason = texts.render("reason_wellbeing", question=question_id, text=reading.wellbeing)
            wellbeing = Signal("wellbeing", "relationship", reason, question_id, None, words=reading.wellbeing)
    return signals + ([wellbeing] if wellbeing is not None else [])


def _explain(
    theme: Theme, finding: Finding, language: str, phrases: RiskPhrases, scores: tuple[float, float] | None
) -> str:
    meaning = theme.meaning.get(language, theme.meaning["en"])
    if scores is None:
        return phrases.explain.get(language, phrases.explain["en"]).format(meaning=meaning, words=finding.words)
    now, usual = scores
    explain = phrases.explain_scores.get(language, phrases.explain_scores["en"])
    return explain.format(meaning=meaning, words=finding.words, now=number(now), usual=number(usual))


def _below_usual(
    entry: HistoryEntry, earlier: Sequence[HistoryEntry], questions: Sequence[Question], margin: float
) -> tuple[float, float] | None:
    """The check-in's alliance index and the client's usual one (the mean of up to ``USUAL_BASELINE`` earlier
    check-ins), when it is at least ``margin`` below it; None otherwise or when there is no usual yet."""
    points = indexed([*earlier[-3 * USUAL_BASELINE :], entry], questions)
    if not points or points[-1][0] is not entry:
        return None
    baseline = [index for _, index in points[:-1][-USUAL_BASELINE:]]
    if len(baseline) < USUAL_MIN:
        return None
    now, usual = points[-1][1], fmean(baseline)
    return (now, usual) if usual - now >= margin else None


def read(text: str, phrases: RiskPhrases, *, about_the_coach: bool = False) -> Reading:
    """The themes ``text`` speaks of, and whether it speaks of a hard time outside the coaching."""
    text = text[:READ_LIMIT]
    language, words, parts, named = _parse(text, phrases)
    found: dict[str, Finding] = {}
    wellbeing: str | None = None
    cued = settled = denied = False
    #: Themes whose cues were read as being about someone or something else.
    elsewhere: set[str] = set()
    guess: list[str | None] = []
    complaints: list[tuple[_Sentence, Hit]] = []
    for part in parts:
        hedged = {i for hit in part.hits if hit.label == HEDGE for i in range(hit.start, hit.end)}
        for hit in part.hits:
            label = hit.label.removesuffix(ALONE).removesuffix(BROAD)
            if label == COMPLAINT:
                complaints.append((part, hit))
            if label in (COACH, OTHER, HEDGE, NOT_COACH, REASSURANCE, COMPLAINT) or label in found:
                continue
            broad = hit.label.endswith(BROAD) or label == AFFECT
            cued = cued or (label in phrases.themes and not broad)
            clause = _clause(words, part, hit, language)
            if clause is None:
                continue
            if _negated(words, hit.start, clause[0], hedged, language, phrases.negation_window):
                denied = denied or (label in phrases.themes and not broad)
                continue
            if label == WELLBEING:
                wellbeing = wellbeing or part.quote
                continue
            if broad:
                near = about_the_coach or _coach_in_clause(hit, part, clause, phrases.broad_window)
                if not near:
                    continue
                if _reassured(part, clause, hit):
                    settled = True
                    continue
                if label == AFFECT:
                    if not guess:
                        guess.append(_likeliest_theme(text, phrases))
                    label = guess[0] or AFFECT
            elif not (about_the_coach or _about_the_coach(hit, part, clause, named, hit.label.endswith(ALONE))):
                elsewhere.add(label)
                continue
            if label in phrases.themes and label not in found:
                quoted = text[words[hit.start].start : words[hit.end - 1].end]
                found[label] = Finding(label, quoted, part.quote, by_model=False)
    if not found and not cued:
        complaint = _complaint(text, words, complaints, phrases)
        if complaint is not None:
            found[complaint.theme] = complaint
    # The model reads what the cues did not find, a cue about someone else included (it reads whom each sentence
    # names too: with it and its own bar for notes naming only someone else, 0.69 -> 0.83 of the relationship
    # notes of authors left out of training, 6.3 % -> 8.3 % of work and neutral notes flagged; docs/signals.md).
    # A note that denies a theme in so many words ("I'm not planning to stop") and unease about the coach that
    # reassuring words settled ("nervous before our session, but it helped") are not its to read.
    settled = settled or any(h.label == REASSURANCE for part, _ in complaints for h in part.hits)
    threshold = _model_threshold(phrases, about_the_coach, named)
    tentative: Finding | None = None
    if not found and not settled and not denied and threshold is not None:
        # Low scores that week say nothing about whether "my boss doesn't listen" is about the coach: a note about
        # someone else gets no tentative reading.
        tentative_bar = min(threshold, phrases.model_threshold_scores or threshold)
        lowest = threshold if _names_only_others(about_the_coach, named) else tentative_bar
        modelled = _modelled(text, words, parts, phrases, language.name, about_the_coach, lowest)
        # The model reading a theme from the words the cues already placed elsewhere ("I want to stop working
        # weekends" as wanting to stop) is those words again, not new evidence.
        if modelled is not None and modelled[0].theme in elsewhere:
            modelled = None
        if modelled is not None and modelled[1] >= threshold:
            found[modelled[0].theme] = modelled[0]
        elif modelled is not None:
            tentative = modelled[0]
    return Reading(language.name, tuple(found.values()), wellbeing, tentative)


def _model_threshold(phrases: RiskPhrases, about_the_coach: bool, named: set[str]) -> float | None:
    """How sure the model must be that the note speaks against the coaching: a note that names the coach is
    read at ``model_threshold``; one that names no one, sent to the coach, is likelier about them than not, so
    at ``model_threshold_unnamed``; one that names only someone else ("my boss...") at
    ``model_threshold_others``."""
    if about_the_coach or COACH in named:
        return phrases.model_threshold
    if _names_only_others(about_the_coach, named):
        return phrases.model_threshold_others
    return phrases.model_threshold_unnamed


def _names_only_others(about_the_coach: bool, named: set[str]) -> bool:
    return not about_the_coach and OTHER in named and COACH not in named


def model_features(text: str, phrases: RiskPhrases, *, about_the_coach: bool = False) -> frozenset[str]:
    """What the model reads in ``text``: the same features whether training or detecting."""
    language, words, parts, named = _parse(text, phrases)
    coach = about_the_coach or COACH in named
    sentences = [
        Sentence(
            tuple(t.word for t in words[part.lo : part.hi]),
            _target(part, about_the_coach),
            _governed(words, part, language, phrases.negation_window),
            frozenset(hit.label for hit in part.hits if hit.label in MODEL_CUES),
        )
        for part in parts
    ]
    return features(sentences, coach=coach, other=OTHER in named, stop=language.markers, language=language.name)


def _governed(words: Sequence[Token], part: _Sentence, language: Language, window: int) -> frozenset[int]:
    """The words (counted from the sentence's start) up to ``window`` after a negation, within its sentence part;
    a hedge ("not sure") negates nothing."""
    hedged = {i for hit in part.hits if hit.label == HEDGE for i in range(hit.start, hit.end)}
    governed: set[int] = set()
    reach = 0
    for i in range(part.lo, part.hi):
        word = words[i].word
        if word in language.contrast:
            reach = 0
        elif word in language.negations and i not in hedged:
            reach = window
        elif reach:
            governed.add(i - part.lo)
            reach -= 1
    return frozenset(governed)


def _target(part: _Sentence, about_the_coach: bool) -> str:
    """Whom a sentence names: only the coach or the coaching, only someone else, or neither or both ("")."""
    labels = {hit.label for hit in part.hits if hit.label in (COACH, OTHER)}
    if labels == {COACH} or (about_the_coach and not labels):
        return YOU
    return THEY if labels == {OTHER} else ""


def _parse(text: str, phrases: RiskPhrases) -> tuple[Language, list[Token], list[_Sentence], set[str]]:
    """The language, tokens and sentences of ``text`` with their cue hits, and who the note names at all."""
    language = _language_of(text, phrases)
    words = tokens(text, language.rewrite)
    keys = [language.matcher.keys(token.word) for token in words]
    parts = _sentences(text, words, keys, language)
    named = {hit.label for part in parts for hit in part.hits if hit.label in (COACH, OTHER)}
    return language, words, parts, named


def _language_of(text: str, phrases: RiskPhrases) -> Language:
    """The language with the most of its ``markers`` in ``text``; English when none stands out."""
    plain = [token.word for token in tokens(text, {})]
    counts = {name: sum(word in lang.markers for word in plain) for name, lang in phrases.languages.items()}
    best = max(counts, key=lambda name: (counts[name], name == "en"))
    return phrases.languages[best]


def _sentences(
    text: str, words: Sequence[Token], keys: Sequence[frozenset[str]], language: Language
) -> list[_Sentence]:
    parts: list[_Sentence] = []
    position = 0
    for start, end in sentences(text):
        lo = position
        while position < len(words) and words[position].start < end:
            position += 1
        if position > lo:
            quote = text[start:end].strip()[:QUOTE_LIMIT]
            hits = language.cues.scan(keys, words, lo, position)
            # "if you ask me" does not address the coach.
            idioms = [h for h in hits if h.label == NOT_COACH]
            hits = [h for h in hits if h.label != COACH or not any(_overlap(h, i) for i in idioms)]
            coach = [h for h in hits if h.label == COACH]
            # "role play" names the coaching even though "role" alone names someone's job.
            hits = [h for h in hits if h.label != OTHER or not any(_overlap(h, c) for c in coach)]
            parts.append(_Sentence(lo, position, quote, hits))
    return parts


def _clause(words: Sequence[Token], part: _Sentence, hit: Hit, language: Language) -> tuple[int, int] | None:
    """The part of the sentence between contrast words ("but", "aber") that holds ``hit``; None if it spans two."""
    lo, hi = part.lo, part.hi
    for i in range(part.lo, part.hi):
        if words[i].word in language.contrast:
            if i < hit.start:
                lo = i + 1
            elif i < hit.end:
                return None
            else:
                hi = i
                break
    return lo, hi


def _negated(words: Sequence[Token], start: int, lo: int, hedged: set[int], language: Language, window: int) -> bool:
    return any(words[i].word in language.negations and i not in hedged for i in range(max(lo, start - window), start))


def _about_the_coach(hit: Hit, part: _Sentence, clause: tuple[int, int], named: set[str], alone: bool) -> bool:
    """Whether the nearest one named around ``hit`` is the coach or the coaching rather than someone else."""
    refs = [h for h in part.hits if h.label in (COACH, OTHER)]
    for scope in ([r for r in refs if clause[0] <= r.start < clause[1]], refs):
        if scope:
            if any(r.label == COACH and _overlap(r, hit) for r in scope):
                return True
            nearest = min(scope, key=lambda r: (_distance(r, hit), r.label == COACH))
            return nearest.label == COACH
    if named == {COACH}:
        return True
    if named == {OTHER}:
        return False
    return alone


def _overlap(one: Hit, other: Hit) -> bool:
    return one.start < other.end and other.start < one.end


def _coach_in_clause(hit: Hit, part: _Sentence, clause: tuple[int, int], window: int) -> bool:
    """Whether the coach is named in ``hit``'s sentence part, within ``window`` words and nearer than anyone else."""
    refs = [h for h in part.hits if h.label in (COACH, OTHER) and clause[0] <= h.start < clause[1]]
    if any(r.label == COACH and _overlap(r, hit) for r in refs):
        return True
    if not refs:
        return False
    nearest = min(refs, key=lambda r: (_distance(r, hit), r.label == COACH))
    return nearest.label == COACH and _distance(nearest, hit) <= window


def _complaint(
    text: str, words: Sequence[Token], complaints: Sequence[tuple[_Sentence, Hit]], phrases: RiskPhrases
) -> Finding | None:
    """The first complaint about the coach ("you didn't ...") that negates no negative word and that nothing
    reassures, read as the theme the model finds likeliest."""
    for part, hit in complaints:
        if any(h.label == REASSURANCE for h in part.hits):
            continue
        negative = [h for h in part.hits if h.label.removesuffix(ALONE).removesuffix(BROAD) in phrases.themes]
        if any(h.start >= hit.start and h.start < hit.end + 3 for h in negative + _affect(part)):
            continue
        theme = _likeliest_theme(text, phrases)
        if theme is not None:
            quoted = text[words[hit.start].start : words[hit.end - 1].end]
            return Finding(theme, quoted, part.quote, by_model=False)
    return None


def _affect(part: _Sentence) -> list[Hit]:
    return [h for h in part.hits if h.label == AFFECT]


def _reassured(part: _Sentence, clause: tuple[int, int], hit: Hit) -> bool:
    """Whether reassuring words follow the sentence part after a contrast word ("nervous, but it helped"), or
    come before ``hit`` in it ("Sorry I was late to our call")."""
    return any(h.label == REASSURANCE and (h.start >= clause[1] or clause[0] <= h.start < hit.start) for h in part.hits)


def _likeliest_theme(text: str, phrases: RiskPhrases) -> str | None:
    """The theme the model finds likeliest for unease that names none (whatever its certainty)."""
    if phrases.model is None:
        return None
    probabilities = phrases.model.probabilities(model_features(text, phrases, about_the_coach=True))
    return max((p, t) for t, p in probabilities.items() if t in phrases.themes)[1]


def _distance(ref: Hit, hit: Hit) -> int:
    return max(hit.start - ref.end, ref.start - hit.end, 0)


def _modelled(
    text: str,
    words: Sequence[Token],
    parts: Sequence[_Sentence],
    phrases: RiskPhrases,
    language: str,
    about_the_coach: bool,
    threshold: float,
) -> tuple[Finding, float] | None:
    """What the model reads when it is at least ``threshold`` sure the note is a risk at all (one minus its
    certainty of "none"), with that certainty: the theme it finds likeliest, and the words that weighed most
    toward that theme rather than the kind of "none" it finds likeliest."""
    model = phrases.model
    if model is None:
        return None
    found = model_features(text, phrases, about_the_coach=about_the_coach)
    probabilities = model.probabilities(found)
    risk = model.risk(probabilities)
    if risk < threshold:
        return None
    theme = max((p, t) for t, p in probabilities.items() if not routine(t))[1]
    usual = max((p, t) for t, p in probabilities.items() if routine(t))[1]
    spots: list[tuple[int, int]] = []
    for feature in model.reasons(found, theme, against=usual):
        spot = _spot(feature, words, language)
        if spot is not None and not any(a < spot[1] and spot[0] < b for a, b in spots):
            spots.append(spot)
    if theme not in phrases.themes or not spots:
        return None
    first = spots[0][0]
    quote = next((p.quote for p in parts if p.lo <= first < p.hi), parts[0].quote)
    words_read = '", "'.join(text[words[a].start : words[b - 1].end] for a, b in spots)
    return Finding(theme, words_read, quote, by_model=True), risk


def _spot(feature: str, words: Sequence[Token], language: str) -> tuple[int, int] | None:
    """Where a model feature first stands among ``words``, as whole words to quote: a word, a pair, a ``stem~``,
    a lemma (``=listen``, ``you:listen``), or a character n-gram (``#u nev``, quoted as the words it touches)."""
    if feature.startswith(GRAM):
        return _spot_gram(feature[len(GRAM) :], words)
    marked = next((m for m in (YOU + ":", THEY + ":", LEMMA, NEGATED) if feature.startswith(m)), None)
    if marked is not None:
        wanted = feature[len(marked) :].lstrip(LEMMA + NEGATED)
        return next(((i, i + 1) for i, w in enumerate(words) if lemma(w.word, language) == wanted), None)
    stem = feature.endswith("~")
    parts = feature.rstrip("~").split()
    for i in range(len(words) - len(parts) + 1):
        if all(
            words[i + k].word.startswith(part) if stem else words[i + k].word == part for k, part in enumerate(parts)
        ):
            return i, i + len(parts)
    return None


def _spot_gram(gram: str, words: Sequence[Token]) -> tuple[int, int] | None:
    """The words a character n-gram of the note's words (joined by spaces, a space either end) touches."""
    joined, starts = " ", []
    for token in words:
        starts.append(len(joined))
        joined += token.word + " "
    at = joined.find(gram)
    if at < 0:
        return None
    end = at + len(gram)
    touched = [i for i, s in enumerate(starts) if s < end and s + len(words[i].word) > at]
    return (touched[0], touched[-1] + 1) if touched else None
