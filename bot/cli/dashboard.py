"""`checkin dashboard-link`: a one-time link to the coach's dashboard, printed for an admin."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import ConfigOption, config_path, database_url, fail, load, people_transaction, with_database_errors
from bot.coaching.dashboard_link import LINK_VALID, issue_link
from bot.config.errors import did_you_mean


def register(app: typer.Typer) -> None:
    app.command("dashboard-link")(dashboard_link)


def dashboard_link(
    coach: Annotated[str | None, typer.Argument(help="A coach's id: a link to their own clients.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="A read-only link to every client of the practice.")] = False,
    config: ConfigOption = None,
) -> None:
    """Print a one-time link to the dashboard: with --admin every client, read-only; with COACH that coach's view.

    The link works once, within 10 minutes; whoever opens it is signed in, so hand it over privately. Coaches
    normally get their own by typing "dashboard" in their chat with the bot.
    """
    loaded, _ = load(config_path(config))
    if loaded.dashboard is None:
        fail("checkin dashboard-link: the dashboard is not configured (add a dashboard: section to the config)")
    if admin == (coach is not None):
        fail("checkin dashboard-link: give either --admin or a coach's id")
    known = [c.id for c in loaded.coaches]
    if coach is not None and coach not in known:
        fail(f"checkin dashboard-link: unknown coach '{coach}'{did_you_mean(coach, known)}")
    url = database_url(loaded)
    public_url = loaded.dashboard.public_url

    async def issue() -> str:
        async with people_transaction(url, loaded, "dashboard-link") as (session, now):
            return await issue_link(session, coach, public_url, now)

    link = with_database_errors(url, issue())
    typer.echo(link)
    minutes = int(LINK_VALID.total_seconds() // 60)
    typer.echo(f"Valid once, for {minutes} minutes{', read-only, every client' if admin else ''}.", err=True)
