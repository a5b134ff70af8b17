"""Configuration: ``config.yaml`` parsed into validated models, with line-precise error reports."""

from bot.config.errors import ConfigError, ConfigIssue
from bot.config.loader import load_config
from bot.config.models import (
    AfterSessions,
    Alerts,
    Cadence,
    CadenceFields,
    Client,
    Coach,
    Config,
    Database,
    Every,
    Goal,
    Pause,
    Platforms,
    QuietHours,
    SlackIdentity,
    SlackPlatform,
    TelegramIdentity,
    TelegramPlatform,
)
from bot.config.secrets import MissingSecretError, referenced_variables, resolve_secret, unset_variables

__all__ = [
    "AfterSessions",
    "Alerts",
    "Cadence",
    "CadenceFields",
    "Client",
    "Coach",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Database",
    "Every",
    "Goal",
    "MissingSecretError",
    "Pause",
    "Platforms",
    "QuietHours",
    "SlackIdentity",
    "SlackPlatform",
    "TelegramIdentity",
    "TelegramPlatform",
    "load_config",
    "referenced_variables",
    "resolve_secret",
    "unset_variables",
]
