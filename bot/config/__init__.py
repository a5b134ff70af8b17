"""Configuration: ``config.yaml`` parsed into validated models, with line-precise error reports."""

from bot.config.alerts import Alerts
from bot.config.cadence import AfterSessions, Cadence, CadenceFields, Every, QuietHours
from bot.config.errors import ConfigError, ConfigIssue
from bot.config.loader import load_config
from bot.config.models import Config
from bot.config.operations import Database, Outbox, Scheduling
from bot.config.people import Client, Coach, Goal, Pause, SlackIdentity, TelegramIdentity
from bot.config.platforms import Platforms, SlackPlatform, TelegramPlatform
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
    "Outbox",
    "Pause",
    "Platforms",
    "QuietHours",
    "Scheduling",
    "SlackIdentity",
    "SlackPlatform",
    "TelegramIdentity",
    "TelegramPlatform",
    "load_config",
    "referenced_variables",
    "resolve_secret",
    "unset_variables",
]
