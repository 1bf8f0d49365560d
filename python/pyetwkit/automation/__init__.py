"""Automations: rules bound to actions, from a TOML file (``pyetwkit run``;
see docs/automation.md). :func:`load` validates a file; :class:`Runner` runs it."""

from pyetwkit.automation.config import (
    Action,
    Automation,
    ConfigError,
    Policy,
    Rule,
    SessionConfig,
    load,
    loads,
)
from pyetwkit.automation.runner import Report, Runner

__all__ = [
    "Action",
    "Automation",
    "ConfigError",
    "Policy",
    "Report",
    "Rule",
    "Runner",
    "SessionConfig",
    "load",
    "loads",
]
