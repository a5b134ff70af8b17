"""The `checkin` command; the only place that exits the process."""

from bot.cli.app import main

__all__ = ["main"]
