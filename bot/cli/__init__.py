"""The `checkin` command line: the only package that talks to the terminal and exits the process.

Commands live in modules by what they are about (``reports``, ``run``, ``people``, ``invites``, ``data``) and share
``common`` for finding the config, opening the database and one-line errors; ``app`` gathers them into the Typer
app. This module stays light so that ``main`` runs before any of them is imported (``start_up`` says why).
"""

from bot.cli import start_up


def main() -> None:
    """The installed `checkin` entry point (and `python -m bot.cli`)."""
    start_up.own_process()
    with start_up.collections_paused():
        from bot.cli.app import app  # imported with collections paused
    app()


__all__ = ["main"]
