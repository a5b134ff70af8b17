"""A chart that fails where charts are drawn: in the drawing process, which imports this module to unpickle it."""

from __future__ import annotations


class FailingChart:
    """Stands in for ``TrendChart`` (same arguments); drawing it raises, as a machine without fonts would."""

    def __init__(self, *args: object) -> None:
        self.args = args

    def __call__(self) -> bytes:
        raise RuntimeError("no fonts on this machine")
