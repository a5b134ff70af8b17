"""The Typer app: every command module registers its commands on it.

Commands that read the configuration take ``ConfigOption`` and call ``config_path``, so ``--config``,
``$CHECKIN_CONFIG`` and ``./config.yaml`` are honoured the same way everywhere.
"""

import typer

from bot.cli import dashboard, data, invites, people, reports, run

app = typer.Typer(
    help="Between-session check-ins for coaching clients.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for commands in (reports, run, people, invites, data, dashboard):
    commands.register(app)

__all__ = ["app"]
