"""Cost against clients: runs the start-up, sweep, status and claim benchmarks at growing sizes and draws
docs/scale.png (matplotlib) from the JSON lines it appends to docs/scale.jsonl.

Not part of ``make bench`` (the leading underscore keeps it out): at 100,000 clients one round takes hours on a
small machine. ``--plot-only`` redraws the figure from the lines already measured.

    python -m benchmarks._scale_plot [--sizes 100 1000 10000 100000] [--benches startup sweep status claim]
                                     [--runs R] [--plot-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import claim, startup, status, sweep

DOCS = Path(__file__).resolve().parent.parent / "docs"
LINES = DOCS / "scale.jsonl"
FIGURE = DOCS / "scale.png"

#: (bench, field, axis label) for each panel of the figure.
PANELS = (
    ("startup", "seconds", "start-up (s)"),
    ("startup", "rss_mb", "idle RSS (MB)"),
    ("sweep", "max_block_cpu_ms", "sweep: longest loop block, CPU (ms)"),
    ("status", "seconds", "checkin status, 50 check-ins each (s)"),
    ("claim", "one_replica_per_s", "claims per second, one replica"),
    ("claim", "ratio", "two replicas / one"),
)


BENCHES = ("startup", "sweep", "status", "claim")


def measure(sizes: list[int], runs: int, benches: list[str]) -> None:
    for clients in sizes:
        if "startup" in benches:
            _append(startup.measure(clients, runs))
        if "sweep" in benches:
            with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
                _append(asyncio.run(sweep.measure(clients, runs, Path(scratch))))
        if "status" in benches:
            with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
                _append(asyncio.run(status.measure(clients, 50, runs, Path(scratch))))
        if "claim" in benches:
            _append(claim.measure(clients, runs))


def _append(row: dict[str, object]) -> None:
    print(json.dumps(row), flush=True)
    with LINES.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def plot() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows: list[dict[str, Any]] = [json.loads(line) for line in LINES.read_text(encoding="utf-8").splitlines()]
    figure = Figure(figsize=(11, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 3)
    for axis, (bench, field, label) in zip(axes.flat, PANELS, strict=True):
        points = sorted({r["clients"]: r[field] for r in rows if r["bench"] == bench and field in r}.items())
        axis.plot([c for c, _ in points], [v for _, v in points], marker="o")
        axis.set_xscale("log")
        axis.set_xlabel("clients")
        axis.set_title(label, fontsize=10)
        axis.grid(True, alpha=0.3)
    figure.suptitle("checkin-bot: cost against the number of clients (2-core machine)")
    figure.savefig(FIGURE, dpi=90)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--benches", nargs="+", choices=BENCHES, default=list(BENCHES))
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.plot_only:
        measure(args.sizes, args.runs, args.benches)
    plot()


if __name__ == "__main__":
    main()
