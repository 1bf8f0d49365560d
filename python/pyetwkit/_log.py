"""The ``pyetwkit`` logger: drops, undecodable schemas, source failures.

Silent until the application configures logging, as a library should be: a
``NullHandler`` is attached before the first record. ``logging`` is imported
on first use, not at ``import pyetwkit`` (it costs startup time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

_logger: logging.Logger | None = None


def logger() -> logging.Logger:
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger("pyetwkit")
        _logger.addHandler(logging.NullHandler())
    return _logger
