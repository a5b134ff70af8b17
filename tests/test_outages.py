"""Which failures are the database being away, and how a retrying loop tells of them."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.observability.outages import OutageLog
from bot.store import unreachable

pytestmark = pytest.mark.unit


class _Driver(Exception):
    """An error as SQLAlchemy's asyncpg adapter passes it on: the server's SQLSTATE beside the message."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "away"),
    [
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError(), True),
        (PoolTimeout("QueuePool limit reached"), True),
        (DBAPIError("SELECT 1", None, Exception("connection was closed"), connection_invalidated=True), True),
        (DBAPIError("SELECT 1", None, ConnectionResetError("reset by peer")), True),
        (DBAPIError("SELECT 1", None, _Driver("the database system is starting up", "57P03")), True),
        (DBAPIError("SELECT 1", None, _Driver("terminating connection due to administrator command", "57P01")), True),
        (ProgrammingError("SELECT nope", None, _Driver('column "nope" does not exist', "42703")), False),
        (IntegrityError("INSERT", None, Exception("duplicate key")), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_a_lost_or_refused_connection_counts_as_the_database_being_away(error: Exception, away: bool) -> None:
    assert unreachable(error) is away


def test_an_outage_is_told_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(logging.getLogger("test.loop"), "the loop")
    with caplog.at_level(logging.INFO, logger="test.loop"):
        outage.succeeded()  # nothing to tell before an outage
        for _ in range(3):
            outage.failed(ConnectionRefusedError(111, "Connection refused"), "retrying in a second")
        outage.succeeded()
        outage.succeeded()
    assert [record.getMessage() for record in caplog.records] == [
        "the loop: the database cannot be reached (ConnectionRefusedError: [Errno 111] Connection refused); "
        "retrying in a second until it answers",
        "the loop: the database answers again after 0 s (3 passes failed meanwhile)",
    ]
    assert not any(record.exc_info for record in caplog.records)


def test_any_other_failure_keeps_its_traceback_every_time(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(logging.getLogger("test.loop"), "the loop")
    with caplog.at_level(logging.INFO, logger="test.loop"):
        outage.failed(ConnectionRefusedError(111, "Connection refused"), "retrying")
        for _ in range(2):
            outage.failed(ValueError("a bug"), "retrying")
    bugs = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in bugs] == ["the loop: a pass failed; retrying"] * 2
    assert all(record.exc_info and record.exc_info[1] is not None for record in bugs)
