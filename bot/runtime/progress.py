"""The client's own progress: the line at the end of a completed check-in and the ``progress`` chart.

Reads only the client's own goal answers (``bot.store.goal_progress``) and speaks the client's language; queued
to the client in the transaction of the reply that asked for it, under a key derived from that reply's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.contract.statuses import CheckInStatus, PersonKind
from bot.conversation import engine
from bot.conversation.progress import progress_line
from bot.delivery import outgoing
from bot.signals import drawing
from bot.signals.drawing import GoalProgressChart
from bot.store import Session, goal_progress
from bot.store.models import CheckIn, Client


async def answer_progress(
    session: Session,
    client: Client,
    context: engine.Context,
    checkin: CheckIn | None,
    effects: Sequence[engine.Effect],
    address: outgoing.Address,
    key: str,
    now: datetime,
) -> None:
    """After a completed check-in, the progress line (from the second check-in on); on ``progress``, the chart."""
    checkin_id = checkin.id if checkin is not None else None
    you = (PersonKind.CLIENT, client.id)
    if any(isinstance(e, engine.FinishCheckIn) and e.status == CheckInStatus.COMPLETED for e in effects):
        line = progress_line(context.texts, await goal_progress.goal_tracks(session, client.id), context.timezone)
        if line is not None:
            await outgoing.queue(
                session, address, (engine.Outgoing(line),), checkin_id, f"{key}:progress", now, person=you
            )
    if any(isinstance(e, engine.ShowProgress) for e in effects):
        text, chart = await _chart(session, client, context)
        await outgoing.queue(
            session, address, (engine.Outgoing(text),), checkin_id, f"{key}:progress", now, person=you, image_png=chart
        )


async def _chart(session: Session, client: Client, context: engine.Context) -> tuple[str, bytes | None]:
    texts = context.texts
    tracks = await goal_progress.goal_tracks(session, client.id)
    scale = next(
        (q.scale for q in context.question_set.questions if q.dimension == "progress" and q.scale is not None), None
    )
    if scale is None or not any(track.points for track in tracks):
        return texts.render("progress_empty"), None
    chart = await drawing.draw(
        GoalProgressChart(texts.render("progress_chart_title"), tracks, scale.labels, scale.min, scale.max)
    )
    return texts.render("progress_chart_caption"), chart
