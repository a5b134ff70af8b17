"""What ``checkin schedule`` and ``checkin validate`` tell an admin about upcoming check-ins.

Pure functions of the config and an injected ``now``, so the lines can be tested at a fixed instant;
``cli.py`` supplies the system clock and does the printing. The slots come from ``client_schedule``,
the same functions the scheduler uses, so the listing is what the bot will actually send (short of a
pause a client sets themselves, which lives in the database).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import CadenceFields, Client, Config, ConfigIssue
from bot.config.yamlsource import SourceDocument
from bot.scheduling.client_schedule import ClientSchedule, UnknownClientError, schedule_for, slots_after
from bot.timing.cadence import SEARCH_HORIZON, next_slots, quiet_hour_moves

#: How many upcoming slots ``checkin validate`` looks at for times that quiet hours move.
_CHECKED_SLOTS = 10
#: Which overridden key a quiet-hours warning points at, when several are written: the likeliest cause first.
_CAUSES = ("at", "after_sessions", "cron", "quiet_hours")


def schedule_report(config: Config, now: datetime, *, client_id: str | None = None, count: int = 5) -> list[str]:
    """The next ``count`` slots of every client (or of ``client_id``), one block per client.

    Raises ``UnknownClientError`` for an id the config does not have.
    """
    if client_id is not None and client_id not in config.clients_by_id:
        raise UnknownClientError(client_id, list(config.clients_by_id))
    chosen = [config.clients_by_id[client_id]] if client_id is not None else list(config.clients)
    lines: list[str] = []
    for client in chosen:
        if lines:
            lines.append("")
        lines += _client_block(config, client, now, count)
    return lines


def session_notes(config: Config, now: datetime) -> list[str]:
    """Notes for clients on a session cadence with no session from today on: they will not be asked."""
    notes = []
    for client in config.clients:
        if config.cadence_of(client).after_sessions is None:
            continue
        today = now.astimezone(client.zone).date()
        if any(session >= today for session in client.sessions):
            continue
        last = f"last: {max(client.sessions)}" if client.sessions else "none yet"
        notes.append(
            f"note: {client.id}: cadence '{client.cadence}' follows coaching sessions, "
            f"but no session on or after {today} is listed ({last})"
        )
    return notes


def quiet_hour_warnings(config: Config, document: SourceDocument, now: datetime) -> list[ConfigIssue]:
    """Warnings for clients whose ``cadence_overrides`` plan check-ins inside quiet hours, which move them.

    The bot sends such a check-in when the quiet hours end, which is rarely what the admin who wrote the time
    meant. Times the named cadence itself already plans inside its quiet hours are not the override's doing.
    """
    warnings = []
    for index, client in enumerate(config.clients):
        overrides = client.cadence_overrides
        if overrides is None:
            continue
        schedule = schedule_for(config, client.id)
        quiet, zone = schedule.cadence.quiet_hours, schedule.timezone
        if quiet is None:
            continue
        upcoming = next_slots(schedule.cadence, zone, now, _CHECKED_SLOTS, sessions=schedule.sessions)
        if not upcoming:
            continue
        moved = quiet_hour_moves(schedule.cadence, zone, now, upcoming[-1], sessions=schedule.sessions)
        named = config.cadences[client.cadence]
        named_moves = quiet_hour_moves(named, zone, now, upcoming[-1], sessions=schedule.sessions)
        already = {wall.time() for wall in named_moves.values()}
        moves: dict[time, tuple[time, bool]] = {}
        for instant, wall in sorted(moved.items()):
            local = instant.astimezone(zone)
            if wall.time() not in already:
                moves.setdefault(wall.time(), (local.time(), local.date() > wall.date()))
        written = overrides.model_fields_set
        cause = next((key for key in _CAUSES if key in written), None)
        path = ("clients", index, "cadence_overrides", *((cause,) if cause else ()))
        whose = "set by the override" if "quiet_hours" in written else f"of cadence '{client.cadence}'"
        for planned, (sent, next_day) in moves.items():
            message = (
                f"{client.id}'s check-ins planned at {planned:%H:%M} by this override fall in the quiet hours "
                f"{whose} ({quiet.start:%H:%M} to {quiet.end:%H:%M}) and are sent at {sent:%H:%M}"
                f"{' the next day' if next_day else ''}"
            )
            warnings.append(document.issue(path, message))
    return warnings


def _client_block(config: Config, client: Client, now: datetime, count: int) -> list[str]:
    schedule = schedule_for(config, client.id)
    lines = [f"{client.id} ({client.timezone}, cadence {client.cadence}{_overridden(client.cadence_overrides)})"]
    if schedule.paused_until is not None and schedule.paused_until > now:
        lines.append(f"  paused until {_local(schedule.paused_until, schedule.timezone)}")
    today = now.astimezone(schedule.timezone).date()
    lines += [f"  no check-ins from {first} to {last} (pause)" for first, last in schedule.pauses if last >= today]
    slots = slots_after(schedule, now, count)
    moved = (
        quiet_hour_moves(schedule.cadence, schedule.timezone, now, slots[-1], sessions=schedule.sessions)
        if slots
        else {}
    )
    for slot in slots:
        line = f"  {_local(slot, schedule.timezone)} = {slot:%Y-%m-%d %H:%M} UTC"
        planned = moved.get(slot)
        lines.append(line if planned is None else f"{line}  (moved by quiet hours from {planned:%a %H:%M})")
    if len(slots) < count:
        lines.append(f"  {_why_no_more(schedule, now, bool(slots))}")
    return lines


def _overridden(overrides: CadenceFields | None) -> str:
    if overrides is None:
        return ""
    keys = [key for key in CadenceFields.model_fields if key in overrides.model_fields_set]
    return f"; overrides: {', '.join(keys)}" if keys else ""


def _local(instant: datetime, zone: ZoneInfo) -> str:
    local = instant.astimezone(zone)
    # Padding the abbreviation keeps the UTC column aligned for the usual 3-5 letter zone names.
    return f"{local:%a %Y-%m-%d %H:%M} {local:%Z}".ljust(26)


def _why_no_more(schedule: ClientSchedule, now: datetime, some: bool) -> str:
    lead = "no more check-ins" if some else "no check-ins"
    cadence, zone = schedule.cadence, schedule.timezone
    horizon = now + SEARCH_HORIZON
    if cadence.start is not None and datetime.combine(cadence.start, time.min, zone) > horizon:
        return f"{lead} in the next four years: the cadence starts on {cadence.start}"
    rule = cadence.after_sessions
    if rule is None:
        return f"{lead} in the next four years"
    if not schedule.sessions:
        return f"{lead}: the cadence follows coaching sessions and none is recorded"
    last = schedule.sessions[-1]
    if datetime.combine(last + timedelta(days=rule.days), rule.at, zone) > horizon:
        return f"{lead} in the next four years"
    return f"{lead}: the cadence follows coaching sessions and the last one recorded is {last}"
