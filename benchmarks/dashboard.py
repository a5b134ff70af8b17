"""Dashboard page loads: 50 coaches opening their practice and client pages at a steady rate, over HTTP.

A practice of 1,000 clients (20 per coach) with 50 weekly check-ins each is seeded; each coach signs in through
a one-time link like a real one, then requests arrive open-loop at ``--rate`` per second (each coach in turn,
alternating the practice page and one of their client pages) for ``--seconds``. The latency of a load is from
sending the request to reading the whole page. The load generator runs in a process of its own, so that its
CPU is not the server's: both processes' CPU per load are reported (on a 2-core machine they share the cores,
so a client costing much would still slow the server). ``--quick`` runs a small practice for a smoke test.

    python -m benchmarks.dashboard [--backend sqlite|postgresql] [--rate 50] [--seconds 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from aiohttp import ClientError, ClientSession, TCPConnector

from benchmarks._postgres import analyze, scratch_database
from benchmarks._practice import NOW, client_id, config_text, seed
from bot.app.builder import build_bot
from bot.app.web_servers import web_servers
from bot.coaching.dashboard_link import issue_link
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.dashboard.access import COOKIE, Access
from bot.store import Database
from bot.timing.clock import ManualClock


async def run(
    backend: str, coaches: int, per_coach: int, checkins: int, rate: float, seconds: float
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        path = directory / "config.yaml"
        path.write_text(config_text(coaches, per_coach), encoding="utf-8")
        config = load_config(path)
        async with scratch_database(backend, directory) as database:
            clock = ManualClock(NOW)
            bot = build_bot(
                config=config,
                question_sets=load_question_sets(config, path),
                texts=load_catalog(),
                database=database,
                adapters={},
                clock=clock,
                worker_id="bench",
                outbox_loop=False,
            )
            try:
                await bot.start()
                seeding = time.perf_counter()
                ids = [client_id(c, i) for c in range(coaches) for i in range(per_coach)]
                rows = await seed(database, ids, checkins)
                await analyze(database)  # planner statistics, as autovacuum gives a table this size within a minute
                seeded = time.perf_counter() - seeding
                cookies = await _sign_in(
                    database, clock, coaches, config.dashboard.public_url if config.dashboard else ""
                )
                [server] = web_servers(bot, clock, lambda: True)
                await server.start()
                try:
                    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client:
                        # Started before the clock runs: the child's interpreter start is not the server's CPU.
                        await asyncio.get_running_loop().run_in_executor(client, time.process_time)
                        served = time.process_time()
                        latencies, failures, elapsed, client_cpu = await asyncio.get_running_loop().run_in_executor(
                            client, _client, f"http://127.0.0.1:{server.port}", cookies, per_coach, rate, seconds
                        )
                        server_cpu = time.process_time() - served
                finally:
                    await server.stop()
            finally:
                await bot.stop()
    latencies.sort()
    return {
        "bench": "dashboard",
        "backend": backend,
        "coaches": coaches,
        "clients": coaches * per_coach,
        "checkins_per_client": checkins,
        "rows_seeded": rows,
        "seed_s": round(seeded, 1),
        "offered_per_s": rate,
        "loads_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "failures": failures,
        "server_cpu_ms_per_load": round(server_cpu * 1000 / max(len(latencies), 1), 1),
        "client_cpu_ms_per_load": round(client_cpu * 1000 / max(len(latencies), 1), 1),
    }


async def _sign_in(database: Database, clock: ManualClock, coaches: int, public_url: str) -> list[str]:
    """One session cookie per coach, each through a one-time link as a coach's browser gets it."""
    access = Access(database, clock)
    cookies = []
    for coach in range(coaches):
        async with database.transaction() as session:
            link = await issue_link(session, f"coach{coach:02d}", public_url, clock.now())
        cookie = await access.sign_in(link.split("t=", 1)[1])
        assert cookie is not None
        cookies.append(cookie)
    return cookies


def _client(
    base: str, cookies: list[str], per_coach: int, rate: float, seconds: float
) -> tuple[list[float], int, float, float]:
    """The load generator in its own process: ``_load``'s figures and the CPU seconds this process spent."""
    started = time.process_time()
    latencies, failures, elapsed = asyncio.run(_load(base, cookies, per_coach, rate, seconds))
    return latencies, failures, elapsed, time.process_time() - started


async def _load(
    base: str, cookies: list[str], per_coach: int, rate: float, seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    failures = 0

    async def load(http: ClientSession, n: int) -> None:
        nonlocal failures
        coach = n % len(cookies)
        page = (
            "/dashboard/" if (n // len(cookies)) % 2 == 0 else f"/dashboard/clients/{client_id(coach, n % per_coach)}"
        )
        started = time.perf_counter()
        try:
            async with http.get(base + page, headers={"Cookie": f"{COOKIE}={cookies[coach]}"}) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
                    return
        except ClientError:  # refused or closed by the server's connection limits: a failed load, not a crash
            failures += 1
            return
        latencies.append(time.perf_counter() - started)

    total = int(rate * seconds)
    # Two connections per coach, as a browser keeps a few per site: far below the server's connection cap.
    async with ClientSession(connector=TCPConnector(limit=2 * len(cookies))) as http:
        await load(http, 0)  # warm up: templates compiled, connections open
        latencies.clear()
        began = time.perf_counter()
        tasks = []
        for n in range(total):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(load(http, n)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return latencies, failures, elapsed


def _percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rate", type=float, default=50.0, help="page loads offered per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="5 coaches x 4 clients x 10 check-ins, 2 seconds")
    args = parser.parse_args(argv)
    shape = (5, 4, 10, args.rate, 2.0) if args.quick else (50, 20, 50, args.rate, args.seconds)
    print(json.dumps(asyncio.run(run(args.backend, *shape))), flush=True)


if __name__ == "__main__":
    main()
