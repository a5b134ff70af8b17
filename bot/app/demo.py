"""``checkin demo``: one real check-in in the terminal.

It runs the production runtime (engine, store, outbox, alert path) with the console adapter standing in for
every platform, so what the demo shows is what a client and a coach would get. With a pipe on standard
input it reads one answer per line and stops when the check-in is over, which makes it scriptable:
``printf '4\\n5\\n…' | .venv/bin/checkin demo``; an empty line leaves out an optional question, as Enter does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from adapters.console import ConsoleAdapter, read_line
from bot.app.builder import build_bot
from bot.config import Client as ClientConfig
from bot.config import Config
from bot.contract.statuses import OPEN_CHECKIN_STATUSES
from bot.conversation.engine import ConversationState
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import TextCatalog, Texts
from bot.runtime.lifecycle import CheckInRecord
from bot.store import Database
from bot.timing.clock import Clock


async def run_demo(
    *,
    config: Config,
    question_sets: Mapping[str, QuestionSet],
    texts: TextCatalog,
    client: ClientConfig,
    database_path: Path | None,
    clock: Clock,
    stdin: TextIO,
    stdout: TextIO,
) -> int:
    """Play one check-in as ``client``; return 0 when it finished, 1 when input ran out first.

    The database is kept in ``database_path``, or in a temporary file removed at the end when it is ``None``.
    The player reads the demo's lines in the client's language; the coach's view is in English, as coaches get it.
    """
    if database_path is not None:
        return await _play(config, question_sets, texts, client, database_path, clock, stdin, stdout, kept=True)
    with tempfile.TemporaryDirectory(prefix="checkin-demo-") as scratch:
        temporary = Path(scratch) / "demo.sqlite3"
        return await _play(config, question_sets, texts, client, temporary, clock, stdin, stdout, kept=False)


async def _play(
    config: Config,
    question_sets: Mapping[str, QuestionSet],
    texts: TextCatalog,
    client: ClientConfig,
    database_path: Path,
    clock: Clock,
    stdin: TextIO,
    stdout: TextIO,
    *,
    kept: bool,
) -> int:
    player = texts.for_language(client.language)
    coach = next(c for c in config.coaches if c.id == client.coach)
    console = ConsoleAdapter(stdout, player=client.id)
    runtime = build_bot(
        config=config,
        question_sets=question_sets,
        texts=texts,
        database=Database(f"sqlite+aiosqlite:///{database_path}"),
        adapters={"console": console},
        clock=clock,
        worker_id="demo",
        address_platform="console",
        outbox_loop=False,
    )
    stdout.write(player.render("demo_banner", client_name=client.name, coach_name=coach.name, database=database_path))
    stdout.write("\n")
    await runtime.start()
    try:
        checkin_id = await runtime.lifecycle.start_checkin(client.id, clock.now())
        if checkin_id is None:
            stdout.write(player.render("demo_not_started", client_name=client.name) + "\n")
            return 1
        await runtime.outbox.drain()
        interactive = stdin.isatty()
        while (record := await runtime.lifecycle.checkin_record(checkin_id)).checkin.status in OPEN_CHECKIN_STATUSES:
            if interactive:
                stdout.write("> ")
                stdout.flush()
            line = await read_line(stdin)
            if not line:
                ended = (
                    player.render("demo_input_ended", database=database_path)
                    if kept
                    else player.render("demo_input_ended_discarded")
                )
                stdout.write("\n" + ended + "\n")
                return 1
            await console.type_line(line.rstrip("\r\n"))
            await runtime.outbox.drain()
        question_set = question_sets[record.checkin.question_set]
        stdout.write("\n" + coach_view(record, client, question_set, texts.english) + "\n")
        return 0
    finally:
        await runtime.stop()


def coach_view(record: CheckInRecord, client: ClientConfig, question_set: QuestionSet, texts: Texts) -> str:
    """The answers as the coach reads them, every planned question in order, skipped ones marked."""
    lines = [texts.render("demo_coach_view", client_name=client.name, status=record.checkin.status)]
    answers = {a.step_key: a for a in record.answers}
    state = ConversationState.from_json(record.checkin.state or {})
    asked = {state.steps[p].key for p in state.asked}
    for step in state.steps:
        if step.key not in asked and step.key not in answers:
            continue  # a follow-up that did not apply, or a question never reached
        question = question_set.question(step.question_id)
        title = question.id.capitalize() + (f" ({step.goal_title})" if step.goal_title else "")
        answer = answers.get(step.key)
        if answer is None:
            shown = texts.render("demo_skipped")
        elif answer.value is not None and question.scale is not None:
            label = question.scale.labels.get(answer.value)
            shown = f"{answer.value}" + (f" · {label}" if label else "")
        else:
            shown = f'"{answer.text}"'
        lines.append(texts.render("demo_answer", question=title, answer=shown))
    if not record.alerts:
        lines.append(texts.render("demo_no_alert"))
    for alert in record.alerts:
        lines.append(texts.render("demo_alert", severity=alert.severity))
        lines += [f"  • {signal['reason']}" for signal in alert.signals]
    return "\n".join(lines)
