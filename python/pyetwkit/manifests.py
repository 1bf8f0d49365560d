"""Instrumentation manifests for decoding manifest-based events offline.

A manifest (``.man``, or the same XML exported from a system) describes each of
a provider's events: its payload template, value and bit maps, task and opcode.
Pass manifests to :func:`pyetwkit.open_etl`, :class:`pyetwkit.EtwListener` or
:class:`pyetwkit.EtwStreamer` as paths or as :class:`Manifest` objects; a path
is parsed once and reused while the file is unchanged.

Merged traces (xperf, PerfView, WPR) embed the schemas of their manifest
events; those decode with no manifest at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from pyetwkit._core import Manifest
from pyetwkit._paths import PathArg, path_str

__all__ = ["Manifest", "ManifestLike", "load_manifest", "resolve_manifests"]

#: A manifest, or the path of one.
ManifestLike = Manifest | str | bytes | os.PathLike[str] | os.PathLike[bytes]

# Parsed manifests by (path, size, mtime): a changed file is parsed again.
_CACHE: dict[tuple[str, int, int], Manifest] = {}
_CACHE_MAX = 32


def load_manifest(path: PathArg) -> Manifest:
    """Parses the manifest at ``path``, or returns the copy parsed before.

    Raises:
        FileNotFoundError: (and other ``OSError`` subclasses) if it cannot be read.
        ManifestError: if it is not a usable instrumentation manifest.
    """
    real = os.path.realpath(path_str(path))
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns)
    cached = _CACHE.get(key)
    if cached is None:
        cached = Manifest(real)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = cached
    return cached


def resolve_manifests(manifests: Iterable[ManifestLike] | ManifestLike | None) -> list[Manifest]:
    """Manifest objects for what a caller gave: one or several, paths or objects."""
    if manifests is None:
        return []
    if isinstance(manifests, (Manifest, str, bytes, os.PathLike)):
        manifests = [manifests]
    return [m if isinstance(m, Manifest) else load_manifest(m) for m in manifests]
