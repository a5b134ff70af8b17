"""The small practice most tests run: Maya coaching Dana on Slack, weekly on Mondays at 09:00 Paris time.

``SLOT`` is the instant of one of Dana's check-ins (Monday 23 November 2026, 09:00 in Paris), so a clock set to
it has a check-in due; ``write_config`` writes the practice's config.yaml, or another text, with sections changed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

SLOT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
DANA = "U0DANA0001"
MAYA = "U0MAYA0001"

CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
cadences:
  weekly:
    every: 1w
    on: [mon]
    at: "09:00"
coaches:
  - id: maya
    name: Maya Chen
    timezone: Europe/London
    slack: {user_id: U0MAYA0001}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {user_id: U0DANA0001}
    goals:
      - id: delegate
        title: Delegate the quarterly planning
"""


def write_config(directory: Path, text: str = CONFIG, **sections: Any) -> Path:
    """Write ``text`` (the practice by default) to ``directory/config.yaml`` and return the path.

    Each keyword sets a top-level section: a mapping is merged into the one the text has (so
    ``database={"url": url}`` or ``observability={"http": {"port": 0}}`` change only what they name), anything
    else replaces it. Without keywords the text is written as it is, line for line.
    """
    if sections:
        data = yaml.load(text, _Yaml12Loader) or {}
        for key, value in sections.items():
            data[key] = _merged(data.get(key), value)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans, as the bot reads config: ``on: [mon]`` is a key named "on", not ``True``."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _merged(base: object, change: object) -> object:
    if isinstance(base, dict) and isinstance(change, dict):
        return {**base, **{key: _merged(base.get(key), value) for key, value in change.items()}}
    return change
