"""Automatic garbage collection while a `checkin` process starts: paused, and what start-up built then frozen.

Start-up builds objects that live as long as the process: the imported modules, then the config (at 10,000
clients over a million objects). With the collector on, every collection on the way walked all of them again,
finding nothing to free: about 0.2 s of the imports and two thirds of the config's validation. ``main`` pauses
collections while the commands import and ``load_with_document`` while the config loads; each pause ends by
freezing what survived (``gc.freeze``), so later collections skip it too, and by turning collections back on.
The pauses are blocks, so no command runs on with the collector off.

Only in a process ``main`` started: a test process that runs commands in-process goes on after them, and must
still collect the cycles its other tests left behind, which a freeze would keep for good.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_own_process = False


def own_process() -> None:
    """Say that this process is a `checkin` command's own, which ends with the command (``main`` calls it)."""
    global _own_process
    _own_process = True


@contextmanager
def collections_paused() -> Iterator[None]:
    """Run the block without automatic collections, then freeze what it left alive; only in ``main``'s process."""
    if not _own_process or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
