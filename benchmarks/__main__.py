"""Run every benchmark module in this package in name order: ``python -m benchmarks`` (``make bench``).

Modules are found rather than listed so adding a benchmark is adding a file. A failing benchmark does not
stop the others; the exit status says whether any failed. Each runs in an interpreter of its own
(``python -m benchmarks --one NAME``): run one after another in one process, a benchmark measured what the ones
before it had left behind, and the dashboard's p99 was 142–145 ms after them against 17 ms on its own.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import subprocess
import sys

import benchmarks


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"] and len(argv) == 2:
        return _one(argv[1])
    failed = [
        name
        for name in sorted(info.name for info in pkgutil.iter_modules(benchmarks.__path__))
        if not name.startswith("_")
        and subprocess.run([sys.executable, "-m", "benchmarks", "--one", name], check=False).returncode != 0
    ]
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _one(name: str) -> int:
    """The benchmark ``name``, in this interpreter; a traceback and status 1 if it raises."""
    del sys.argv[1:]  # a module reads its own options from the command line: none, its defaults
    result = importlib.import_module(f"benchmarks.{name}").main()
    if inspect.isawaitable(result):
        asyncio.run(_awaited(result))
    return 0


async def _awaited(result: object) -> None:
    await result  # type: ignore[misc]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
