"""pyetwkit's exceptions. All derive from :class:`EtwError`.

I/O problems raise the built-in :class:`OSError` subclasses (``FileNotFoundError``,
``PermissionError``, ...) with ``errno`` and ``filename`` set.
"""

from pyetwkit._core import (
    EtlFormatError,
    EtwError,
    EtwUnsupportedPlatformError,
    ManifestError,
    NotAnEtlFileError,
    SessionClosedError,
    SessionExistsError,
    SessionLimitError,
    SessionNotFoundError,
)

__all__ = [
    "EtlFormatError",
    "EtwError",
    "EtwUnsupportedPlatformError",
    "ManifestError",
    "NotAnEtlFileError",
    "SessionClosedError",
    "SessionExistsError",
    "SessionLimitError",
    "SessionNotFoundError",
]
