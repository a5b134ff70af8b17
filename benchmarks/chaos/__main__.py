"""``python -m benchmarks.chaos [--quick] [scenario ...]``."""

from __future__ import annotations

import sys

from benchmarks.chaos.suite import cli

if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
