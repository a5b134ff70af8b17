"""Log lines as text for a terminal or as one JSON object per line for a log collector.

A JSON line carries only the time (ISO 8601, UTC), level, logger, the message, and the traceback when there is
one. Nothing else from the record is copied, so a value passed in ``extra=`` can never carry an answer or a token
into the logs; the bot's own messages name ids, counts and reasons, never what a client wrote.

Libraries that would log what the bot must not are held at WARNING whatever ``log_level`` says: httpx logs every
request URL at INFO, and a Telegram Bot API URL contains the bot token; python-telegram-bot, the Slack SDKs and
websockets log request, update and frame bodies at DEBUG, and aiosqlite and SQLAlchemy log statements with their
parameters; all of these can hold answers.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Held at WARNING or above: their lower levels leak tokens or message bodies, or drown the bot's own lines.
QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram",
    "slack_sdk",
    "slack_bolt",
    "websockets",
    "aiosqlite",
    "sqlalchemy",
    "aiohttp.access",
    "apscheduler",
    "alembic",
    "matplotlib",
    "PIL",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time``, ``level``, ``logger``, ``message`` and, if any, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(log_format: Literal["text", "json"], level: str, stream: TextIO) -> None:
    """Send every log record at ``level`` or above to ``stream``, formatted as asked; replaces earlier handlers."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    floor = max(logging.getLevelNamesMapping()[level], logging.WARNING)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(floor)
