"""Configuration: ``config.yaml`` parsed into validated models, with line-precise error reports."""

from bot.config.errors import ConfigError, ConfigIssue
from bot.config.loader import load_config
from bot.config.models import (
    Alerts,
    Cadence,
    Client,
    Coach,
    Config,
    Database,
    Every,
    Goal,
    Platforms,
    QuietHours,
    SlackIdentity,
    SlackPlatform,
    TelegramIdentity,
    TelegramPlatform,
)
from bot.config.secrets import MissingSecretError, referenced_variables, resolve_secret, unset_variables

__all__ = [
    "Alerts",
    "Cadence",
    "Client",
    "Coach",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Database",
    "Every",
    "Goal",
    "MissingSecretError",
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
