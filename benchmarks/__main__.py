"""Run every benchmark module in this package in name order: ``python -m benchmarks`` (``make bench``).

Modules are found rather than listed so adding a benchmark is adding a file. A failing benchmark does not
stop the others; the exit status says whether any failed.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import sys
import traceback

import benchmarks


def main() -> int:
    failed: list[str] = []
    for name in sorted(info.name for info in pkgutil.iter_modules(benchmarks.__path__)):
        if name.startswith("_"):
            continue
        try:
            result = importlib.import_module(f"benchmarks.{name}").main()
            if inspect.isawaitable(result):
                asyncio.run(_awaited(result))
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


async def _awaited(result: object) -> None:
    await result  # type: ignore[misc]


if __name__ == "__main__":
    sys.exit(main())
