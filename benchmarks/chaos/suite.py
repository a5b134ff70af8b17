"""The scenarios in full and quick sizes, run in order, one JSON line each; a broken promise fails the run."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from benchmarks.chaos.practice import Practice
from benchmarks.chaos.scenarios import (
    Outcome,
    database_outage,
    kills,
    nothing,
    platform_outage,
    run_scenario,
)

Scenario = Callable[[bool], Awaitable[Outcome]]


async def replicas_kill(quick: bool) -> Outcome:
    clients = 30 if quick else 300
    return await run_scenario(
        "replicas_kill",
        Practice(clients, "webhook"),
        kills(every=(1.0, 4.0), down=(0.2, 1.5)),
        replicas=2,
        lease="15s",  # a killed replica's rows are taken over after it; a shorter one meets a stalled loop
        deadline=240 if quick else 900,
    )


def database_outage_in(mode: str) -> Scenario:
    async def scenario(quick: bool) -> Outcome:
        clients = 12 if quick else 100
        return await run_scenario(
            f"database_outage_{mode}",
            Practice(clients, mode),  # type: ignore[arg-type]
            database_outage(seconds=25 if quick else 90, after_answers=clients // 2),
            deadline=180 if quick else 600,
        )

    return scenario


async def platform_outage_10m(quick: bool) -> Outcome:
    seconds = 20 if quick else 600
    return await run_scenario(
        "platform_outage",
        Practice(10 if quick else 100, "polling"),
        platform_outage(seconds),
        give_up_after="30m",  # longer than the outage: the horizon must not lose what the outage delayed
        deadline=seconds + (150 if quick else 2400),
    )


async def slow_sends(quick: bool) -> Outcome:
    return await run_scenario(
        "slow_sends",
        Practice(6 if quick else 40, "polling"),
        nothing,
        lease="5s",
        latency=7.0,  # every send answered 7 s late: longer than the lease
        deadline=240 if quick else 600,
    )


SCENARIOS: dict[str, Scenario] = {
    "replicas_kill": replicas_kill,
    "database_outage_polling": database_outage_in("polling"),
    "database_outage_webhook": database_outage_in("webhook"),
    "database_outage_socket": database_outage_in("socket"),
    "platform_outage": platform_outage_10m,
    "slow_sends": slow_sends,
}


async def run(names: Sequence[str], quick: bool) -> list[Outcome]:
    outcomes = []
    for name in names:
        outcome = await SCENARIOS[name](quick)
        print(json.dumps(outcome.line() | {"quick": quick}), flush=True)
        outcomes.append(outcome)
    return outcomes


def cli(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short versions (a 20 s platform outage, fewer clients)")
    parser.add_argument("scenarios", nargs="*", help=f"some of: {', '.join(SCENARIOS)} (default: all)")
    arguments = parser.parse_args(argv)
    if unknown := set(arguments.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    # A replica killed mid-request leaves the fake server a broken connection, which aiohttp logs with a traceback.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    outcomes = asyncio.run(run(arguments.scenarios or list(SCENARIOS), arguments.quick))
    broken = [f"{o.scenario}: {', '.join(o.problems())}" for o in outcomes if o.problems()]
    for line in broken:
        print(f"chaos: {line}")
    return 1 if broken else 0


def main() -> None:
    """``make bench``: the quick versions; a broken promise raises, so the benchmark run reports it."""
    if cli(["--quick"]) != 0:
        raise RuntimeError("the chaos suite found a broken promise")
