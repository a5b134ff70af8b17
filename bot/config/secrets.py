"""``${ENV_VAR}`` references: secrets live in the environment, the config only names them.

Validation accepts a reference whose variable is unset, so ``checkin validate`` works on a laptop or
in CI without real tokens; the value is looked up only when a component actually needs it, and a
missing one fails there with the variable's name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config.models import Config

_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class MissingSecretError(LookupError):
    """A referenced environment variable is unset or empty at the moment it is needed."""

    def __init__(self, variable: str) -> None:
        self.variable = variable
        super().__init__(f"environment variable {variable} is not set (the config refers to ${{{variable}}})")


def is_reference(value: str) -> bool:
    return _REFERENCE.match(value) is not None


def resolve_secret(value: str, environ: Mapping[str, str] | None = None) -> str:
    """The value behind a ``${VAR}`` reference; any other value (a plain database URL) as it is."""
    match = _REFERENCE.match(value)
    if match is None:
        return value
    variable = match[1]
    resolved = (os.environ if environ is None else environ).get(variable, "")
    if not resolved:
        raise MissingSecretError(variable)
    return resolved


def referenced_variables(config: Config) -> list[str]:
    """Every environment variable the config refers to, in file order, once each."""
    values: list[str | None] = [config.database.url]
    if config.platforms.slack is not None:
        slack = config.platforms.slack
        values += [slack.bot_token, slack.app_token, slack.signing_secret]
    if config.platforms.telegram is not None:
        values.append(config.platforms.telegram.bot_token)
    names = [match[1] for value in values if value and (match := _REFERENCE.match(value))]
    return list(dict.fromkeys(names))


def unset_variables(config: Config, environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    return [name for name in referenced_variables(config) if not env.get(name)]
