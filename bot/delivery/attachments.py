"""Images drawn after the commit of the message they belong to, in the drawing process, then attached.

Drawing an alert's trend chart costs 100-200 ms of CPU, and the first one another second to import
matplotlib. Inside the transaction of the client's reply that completed the check-in it held the reply's row
locks and the event loop that long, so every other reply waited behind it. Instead the message is queued in
that transaction without its image but held (``HOLD`` ahead), the commit goes through, and then the image is
drawn in the drawing process (``bot.signals.drawing``) and added to the queued message, which releases it to
the outbox at once.

The outbox's guarantees stay whole: the message is in the table from the commit on and keeps its place in its
recipient's order (a held row holds the rows behind it). If drawing fails, the message is released without the
image; if the process dies first, the hold runs out and it goes without it. A message that waits for its coach
(``bot.store.waiting``) gets the image where it waits.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.contract.stopping import finish_or_cancel
from bot.signals import drawing
from bot.signals.drawing import Chart
from bot.store import Database, Session, outbox, waiting
from bot.store.hooks import on_commit
from bot.timing.clock import Clock

log = logging.getLogger(__name__)

#: How long a message waits for its image before it goes without (only if the drawing never reports back).
HOLD = timedelta(seconds=30)
#: Seconds ``close`` waits for images under way before cancelling them.
STOP_GRACE = 2.0
#: The payload key of an attached PNG (``OutboundMessage.to_payload``).
IMAGE_KEY = "image_png"


class Attachments:
    """Draws images in the drawing process after their message's transaction committed, and attaches them."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()
        #: How many held messages have been let go (image attached or given up): a drain that claimed nothing
        #: compares it with its value before the claim, since a release during the claim went unseen by it.
        self.released = 0
        self._on_attached: Callable[[], None] = lambda: None

    def notify(self, on_attached: Callable[[], None]) -> None:
        """Call ``on_attached`` whenever a held message was released (the outbox worker wakes on it)."""
        self._on_attached = on_attached

    def hold_until(self, now: datetime) -> datetime:
        """When a message whose image is not drawn yet goes anyway."""
        return now + HOLD

    def after_commit(self, session: Session, idempotency_key: str, chart: Chart) -> None:
        """Once ``session`` commits, draw the image of the message queued (or waiting) under this key."""
        on_commit(session, lambda: self._start(idempotency_key, chart))

    @property
    def pending(self) -> bool:
        """Whether images are being drawn: messages the outbox will have to send once they are attached."""
        return bool(self._pending)

    async def wait_for_one(self) -> None:
        """Return once one of the images being drawn has been attached (or given up)."""
        if self._pending:
            await asyncio.wait(set(self._pending), return_when=asyncio.FIRST_COMPLETED)

    async def close(self) -> None:
        """Stop drawing: images under way get ``STOP_GRACE`` to be drawn and attached, then are cancelled.

        A message whose image was not attached goes without it when its hold runs out. Cancelled inside the
        transaction that attaches it, the attaching rolled back and the database driver logged a traceback.
        """
        await finish_or_cancel(set(self._pending), STOP_GRACE)

    def _start(self, idempotency_key: str, chart: Chart) -> None:
        task = asyncio.get_running_loop().create_task(self._attach(idempotency_key, chart), name="draw-attachment")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _attach(self, idempotency_key: str, chart: Chart) -> None:
        extra: dict[str, str] = {}
        try:
            image = await drawing.draw(chart)
            extra[IMAGE_KEY] = base64.b64encode(image).decode("ascii")
        except Exception:
            log.exception("drawing the image of %s failed; the message goes without it", idempotency_key)
        try:
            async with self._database.transaction() as session:
                now = self._clock.now()
                if not await outbox.release_held(session, idempotency_key, extra, now) and extra:
                    await waiting.add_to_payload(session, idempotency_key, extra)
        except Exception:
            log.exception(
                "attaching the image of %s failed; the message goes without it after its hold", idempotency_key
            )
            return
        self.released += 1
        self._on_attached()
