"""Automations: rules bound to actions, from a TOML file (work in progress:
the configuration layer; the runner, actions and metrics come next)."""

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

__all__ = [
    "Action",
    "Automation",
    "ConfigError",
    "Policy",
    "Rule",
    "SessionConfig",
    "load",
    "loads",
]
