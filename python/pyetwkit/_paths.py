"""Paths as Python's own ``open()`` takes them: ``str``, ``bytes`` or
``os.PathLike``; a NUL inside is a ``ValueError`` (not an OSError)."""

from __future__ import annotations

import os

#: What a path argument may be.
PathArg = str | bytes | os.PathLike[str] | os.PathLike[bytes]


def path_str(path: PathArg, what: str = "path") -> str:
    """``path`` as text (bytes decoded as the OS does), checked."""
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(
            f"{what} must be str, bytes or os.PathLike, not {type(path).__name__}"
        ) from None
    if "\0" in text:
        raise ValueError(f"{what} contains an embedded null character: {text!r}")
    return text
