"""Start-up: the real ``checkin run`` process with N clients, until it logs that it is running, and its idle RSS.

``cpu_seconds`` is the CPU time the process had used when it logged that (user and system, from /proc), which a
busy machine does not inflate the way it does the seconds on the clock.

Each run is a fresh process on the same SQLite database, so a run measures a restart (import, config, migration
check, people sync, catch-up pass, planning the client jobs); the first start, which also creates the schema and
the people, is reported apart. No slot is due (the cadence starts in 2030), so the catch-up finds nothing to send.

    python -m benchmarks.startup [--clients N] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY = "checkin-bot running as"
#: How long the bot idles after start-up before its RSS is read.
SETTLE_SECONDS = 1.0


def config_text(clients: int, directory: Path) -> str:
    people = "".join(
        f"  - {{id: c{n:06d}, name: Client {n}, coach: maya, timezone: Europe/Paris, cadence: daily,"
        f" slack: {{user_id: UC{n:06d}}}, goals: [{{id: goal, title: Lead the offsite}}]}}\n"
        for n in range(clients)
    )
    return (
        f"database: {{url: 'sqlite+aiosqlite:///{directory / 'bot.sqlite3'}'}}\n"
        'platforms:\n  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}\n'
        'cadences:\n  daily: {every: 1d, at: "10:00", start: 2030-01-01}\n'
        "coaches:\n  - {id: maya, name: Maya Chen, timezone: Europe/London, slack: {user_id: U0MAYA0001}}\n"
        "clients:\n" + people
    )


def start_once(config: Path) -> tuple[float, float, float]:
    """Seconds until the bot says it runs, its CPU seconds by then, and its RSS in MB once idle; the process is
    stopped afterwards."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--console", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CHECKIN_LOG_FORMAT": "text"},
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if READY in line:
                break
        else:
            raise RuntimeError(f"checkin run exited with {process.wait()} before it was ready")
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds(process.pid)
        time.sleep(SETTLE_SECONDS)
        rss_mb = _rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return seconds, cpu, rss_mb


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU of ``pid`` (fields 14 and 15 of /proc/PID/stat, after the command's parentheses)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc")


def measure(clients: int, runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
        config = Path(scratch) / "config.yaml"
        config.write_text(config_text(clients, Path(scratch)), encoding="utf-8")
        first, _, _ = start_once(config)
        results = [start_once(config) for _ in range(runs)]
    seconds = [s for s, _, _ in results]
    cpu = [c for _, c, _ in results]
    rss = [r for _, _, r in results]
    return {
        "bench": "startup",
        "clients": clients,
        "seconds": round(statistics.median(seconds), 2),
        "seconds_min": round(min(seconds), 2),
        "seconds_max": round(max(seconds), 2),
        "cpu_seconds": round(statistics.median(cpu), 2),
        "cpu_seconds_min": round(min(cpu), 2),
        "cpu_seconds_max": round(max(cpu), 2),
        "rss_mb": round(statistics.median(rss), 1),
        "rss_mb_min": round(min(rss), 1),
        "rss_mb_max": round(max(rss), 1),
        "first_start_seconds": round(first, 2),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args, _ = parser.parse_known_args(argv)
    print(json.dumps(measure(args.clients, args.runs)), flush=True)


if __name__ == "__main__":
    main()
