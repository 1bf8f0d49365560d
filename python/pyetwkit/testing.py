"""Simulated ETW: run live-session code on any OS, against a recording.

Inside ``simulated_etw(recording)``, live sessions (``EtwListener(providers)``,
``EtwStreamer(providers)``) are served from the recording as if it were live,
through the same live-session code as on Windows: the session controller (names,
clashes), ETW's enablement rules and the statistics. A provider's events pass
when its GUID is enabled, their level is at most the provider's level (level-0
events always pass) and their keywords match ``keywords_any`` and
``keywords_all`` as ETW matches them; kernel flags select the kernel events of
their classes. When the recording is exhausted the session ends (``at_end=
"stop"``, so loops over it finish) or stays open and idle until it is stopped,
as a real session does (``at_end="wait"``).

Example::

    from pyetwkit import EtwListener, providers
    from pyetwkit.testing import simulated_etw

    with simulated_etw("trace.etl"):
        with EtwListener([providers.kernel_logger_process()]) as listener:
            for event in listener:
                ...

The simulation is process-wide (sessions started by any thread inside the
``with`` block are simulated) and nests: the innermost one serves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from pyetwkit._core import Manifest
from pyetwkit._paths import PathArg, path_str
from pyetwkit.manifests import ManifestLike, resolve_manifests

__all__ = ["Simulation", "simulated_etw"]


@dataclass(frozen=True)
class Simulation:
    """What a simulated session is served from."""

    recording: str
    manifests: tuple[Manifest, ...]
    overflow: Literal["block", "drop"]
    at_end: Literal["stop", "wait"] = "stop"
    preload: bool = False


_lock = threading.Lock()
_active: list[Simulation] = []


@contextmanager
def simulated_etw(
    recording: PathArg,
    *,
    manifests: Iterable[ManifestLike] | ManifestLike | None = None,
    overflow: Literal["block", "drop"] = "block",
    at_end: Literal["stop", "wait"] = "stop",
    preload: bool = False,
) -> Iterator[Simulation]:
    """Serves live sessions from ``recording`` while the block runs.

    Args:
        recording: an .etl file; checked when a session starts.
        manifests: decode the recording's manifest events with these (TDH's
            part in a real session).
        overflow: ``"block"`` (the default) serves every selected event, so
            tests are exact; ``"drop"`` serves the recording as fast as it
            reads, as a live source that cannot wait, so a slow consumer loses
            events and ``stats().dropped`` counts them.
        at_end: ``"stop"`` (the default) ends a session, and its stream, when
            the recording is exhausted; ``"wait"`` keeps it open and idle
            until it is stopped, as a real session: for timeouts, ``stop()``
            and session-name clashes.
        preload: read the recording into memory when a session starts, so
            that serving it costs what a live session's delivery costs, with
            no disk reads or decompression (benchmarks; memory grows with the
            file).
    """
    if overflow not in ("block", "drop"):
        raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")
    if at_end not in ("stop", "wait"):
        raise ValueError(f"at_end must be 'stop' or 'wait', not {at_end!r}")
    simulation = Simulation(
        path_str(recording, "recording"),
        tuple(resolve_manifests(manifests)),
        overflow,
        at_end,
        preload,
    )
    with _lock:
        _active.append(simulation)
    try:
        yield simulation
    finally:
        with _lock:
            _active.remove(simulation)


def current_simulation() -> Simulation | None:
    """The innermost active simulation, if any."""
    with _lock:
        return _active[-1] if _active else None
