"""Claiming with replicas: N clients due at once on one PostgreSQL, claimed by one replica and by two.

Each replica is a process of its own with its own runtime and dispatcher (what ``checkin run`` builds, with
start-up's objects frozen out of the garbage collector's full collections as it freezes them); all are
started, then told to dispatch at the same moment. The figure is check-ins claimed (started, opening
messages queued) per second from that moment until the last replica is done; ``ratio`` is two replicas' rate
over one's. Sending is left out (``outbox_loop=False``): the outbox has its own benchmark. The CPU each claim
costs is reported too, the replicas' (``time.process_time`` in each) and the PostgreSQL server's (from /proc), for
one replica and for two: on a small machine the replicas and the server share the cores, and the ratio cannot
exceed what the cores left over allow.

    python -m benchmarks.claim [--clients N] [--runs R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from benchmarks._postgres import POSTGRES_URL, admin, postgres_cpu_seconds, quiet_server
from benchmarks.dispatch import DUE_AT, InstantAdapter, config_text
from bot.app.builder import Bot, build_bot
from bot.app.serve import keep_out_of_collections
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.store import Database
from bot.timing.clock import ManualClock


def runtime_at(config_path: Path, schema: str, name: str, clock: ManualClock) -> Bot:
    config = load_config(config_path)
    return build_bot(
        config=config,
        question_sets=load_question_sets(config, config_path),
        texts=load_catalog(),
        database=Database(POSTGRES_URL, schema=schema),
        adapters={"slack": InstantAdapter()},
        clock=clock,
        worker_id=name,
        outbox_loop=False,
    )


async def seed(config_path: Path, schema: str) -> None:
    """The people, added the night before the slot, so the slot is owed when the replicas look."""
    runtime = runtime_at(config_path, schema, "seed", ManualClock(DUE_AT - timedelta(hours=9)))
    await runtime.start()
    await runtime.stop()


async def replica(config_path: Path, schema: str, name: str) -> None:
    """One replica: start, say ready, wait for the word, dispatch once, print how many it started.

    It then keeps its connections until told to stop: a server process that ends takes its CPU time out of
    /proc, so a replica that finished first and disconnected took its share out of the server's figure.
    """
    runtime = runtime_at(config_path, schema, name, ManualClock(DUE_AT))
    await runtime.start()
    keep_out_of_collections()  # as `checkin run` does once started
    try:
        dispatcher = runtime.dispatcher()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        cpu = time.process_time()
        report = await dispatcher.dispatch()
        print(json.dumps({"started": report.started, "cpu": time.process_time() - cpu}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    finally:
        await runtime.stop()


@dataclass(frozen=True)
class Round:
    seconds: float
    #: CPU seconds of the replicas' dispatch, all together, and of the PostgreSQL server meanwhile.
    replica_cpu: float
    postgres_cpu: float | None


def claim_round(config_path: Path, schema: str, replicas: int, clients: int) -> Round:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.claim", "--replica", str(config_path), schema],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(replicas)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a replica did not start")
        server, started = postgres_cpu_seconds(), time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        total, replica_cpu = 0, 0.0
        for process in processes:
            assert process.stdout is not None
            done = json.loads(process.stdout.readline())
            total += done["started"]
            replica_cpu += done["cpu"]
        seconds = time.perf_counter() - started
        server_after = postgres_cpu_seconds()
    finally:
        for process in processes:
            if process.stdin is not None:
                process.stdin.close()  # the word to stop
            process.wait(timeout=600)
    if total != clients:
        raise RuntimeError(f"{replicas} replica(s) started {total} check-ins for {clients} clients")
    postgres = server_after - server if server is not None and server_after is not None else None
    return Round(seconds, replica_cpu, postgres)


async def reset(schema: str) -> None:
    """Forget the check-ins and their messages, keeping the people, so the next round claims the same slots.

    Truncated rather than deleted, and the server let settle (``quiet_server``): the 40,000 rows a round deleted
    left dead rows and index entries for the next rounds' inserts and autovacuum to work through, on the cores
    the replicas were measured on. The server's CPU per claim was 20 % higher with two replicas than with one
    (0.136 against 0.113 ms), and 0-9 % higher since.
    """
    # Answers and alerts refer to check-ins (none in this benchmark), so PostgreSQL wants them in the statement.
    tables = ", ".join(f'"{schema}".{table}' for table in ("outbox", "answers", "alerts", "checkins"))
    await admin(f"TRUNCATE {tables}")
    await quiet_server()


def measure(clients: int, runs: int) -> dict[str, object]:
    schema = f"bench_{uuid.uuid4().hex}"
    asyncio.run(admin(f'CREATE SCHEMA "{schema}"'))
    rounds: dict[int, list[Round]] = {1: [], 2: []}
    try:
        with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
            config_path = Path(scratch) / "config.yaml"
            config_path.write_text(config_text(clients), encoding="utf-8")
            asyncio.run(seed(config_path, schema))
            for _ in range(runs):
                for replicas in (1, 2):
                    asyncio.run(reset(schema))
                    rounds[replicas].append(claim_round(config_path, schema, replicas, clients))
    finally:
        asyncio.run(admin(f'DROP SCHEMA "{schema}" CASCADE'))
    rates = {n: [clients / r.seconds for r in done] for n, done in rounds.items()}
    one, two = statistics.median(rates[1]), statistics.median(rates[2])

    def per_claim_ms(spent: list[float | None]) -> float | None:
        known = [seconds for seconds in spent if seconds is not None]
        return round(statistics.median(known) / clients * 1000, 3) if len(known) == len(spent) else None

    return {
        "bench": "claim",
        "backend": "postgresql",
        "clients": clients,
        "one_replica_per_s": round(one, 1),
        "two_replicas_per_s": round(two, 1),
        "ratio": round(two / one, 2),
        "ratio_min": round(min(rates[2]) / max(rates[1]), 2),
        "ratio_max": round(max(rates[2]) / min(rates[1]), 2),
        "replica_cpu_ms_per_claim_one": per_claim_ms([r.replica_cpu for r in rounds[1]]),
        "replica_cpu_ms_per_claim_two": per_claim_ms([r.replica_cpu for r in rounds[2]]),
        "postgres_cpu_ms_per_claim_one": per_claim_ms([r.postgres_cpu for r in rounds[1]]),
        "postgres_cpu_ms_per_claim_two": per_claim_ms([r.postgres_cpu for r in rounds[2]]),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--replica", nargs=2, metavar=("CONFIG", "SCHEMA"), help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    if args.replica is not None:
        asyncio.run(replica(Path(args.replica[0]), args.replica[1], f"replica-{uuid.uuid4().hex[:6]}"))
        return
    print(json.dumps(measure(args.clients, args.runs)), flush=True)


if __name__ == "__main__":
    main()
