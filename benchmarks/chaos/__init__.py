"""The chaos suite: real `checkin run` processes harmed while scripted clients answer hundreds of check-ins.

``python -m benchmarks.chaos`` runs every scenario in full; ``--quick`` runs short versions (``make bench``
runs those, and ``tests/test_chaos.py`` a few of them in the process tier). Each prints one JSON line and the
run fails when a promise of ``docs/reliability.md`` was broken. The scenarios:

- ``replicas_kill``: two replicas on Telegram webhooks, one of them killed with -9 at random instants and
  started again, all through the run;
- ``database_outage_<mode>``: every database connection cut (and new ones refused) while clients answer, in
  Telegram long polling, Telegram webhook and Slack Socket Mode;
- ``platform_outage``: every send answered 502 for ten minutes (``--quick``: 20 s), from the first;
- ``slow_sends``: the platform answers each send later than the outbox lease (7 s against 5 s).
"""

from __future__ import annotations

from benchmarks.chaos.suite import main

__all__ = ["main"]
