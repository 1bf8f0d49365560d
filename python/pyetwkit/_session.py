"""What EtwListener and EtwStreamer share: checking their options and starting
the Rust session (a file replay now; a live session on Windows later)."""

from __future__ import annotations

import atexit
import functools
import json
import math
import operator
import sys
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from pyetwkit._core import (
    EtwEvent,
    EtwUnsupportedPlatformError,
    Selection,
    Session,
    SessionStats,
    live_sessions_supported,
)
from pyetwkit._log import logger
from pyetwkit._paths import PathArg, path_str
from pyetwkit.filters import Filter, require_filter
from pyetwkit.manifests import ManifestLike, resolve_manifests
from pyetwkit.providers import KernelProvider, Provider
from pyetwkit.sigma import RuleSet
from pyetwkit.testing import current_simulation

OverflowPolicy = Literal["block", "drop"]
#: Live sessions' buffer presets (see docs/windows.md).
Preset = Literal["low_latency", "balanced", "high_throughput"]


@dataclass(frozen=True)
class Buffers:
    """Explicit ETW buffer settings of a live session: each one given replaces
    the preset's (see docs/windows.md). Checked when the session starts.

    Args:
        buffer_kb: the size of each buffer, 1 to 1024 KB.
        min_buffers: buffers ETW allocates up front, 1 to 1024.
        max_buffers: buffers ETW may grow to, ``min_buffers`` to 1024.
        flush_ms: how often ETW delivers partly filled buffers, in ms.
    """

    buffer_kb: int | None = None
    min_buffers: int | None = None
    max_buffers: int | None = None
    flush_ms: int | None = None


ProviderLike = Provider | KernelProvider

# Events fetched from Rust per call at most (what is already waiting in the
# channel, without waiting for more). A synchronous call is cheap: small fetches
# keep few events (and the buffers they share) alive. An asynchronous one costs
# a round trip through the event loop, so it takes more at once.
FETCH_SYNC = 1024
FETCH_ASYNC = 8192


class SessionOptions:
    """Validated constructor arguments of a listener or streamer."""

    def __init__(
        self,
        providers: Sequence[ProviderLike] | ProviderLike | None,
        etl_file: PathArg | None,
        filter: Filter | None,
        replay_speed: float | None,
        capacity: int,
        batch_size: int,
        flush_interval: float,
        overflow: OverflowPolicy | None,
        preload: bool = False,
        manifests: Iterable[ManifestLike] | ManifestLike | None = None,
        prescan_processes: bool = False,
        label: str = "session",
        on_conflict: Literal["error", "replace"] = "error",
        preset: Preset | None = None,
        buffers: Buffers | None = None,
        prescan_schemas: bool = False,
        rules: RuleSet | None = None,
        keep_unmatched: bool = False,
        selection: Selection | None = None,
    ) -> None:
        if selection is not None and not isinstance(selection, Selection):
            raise TypeError(f"selection must be a Selection, not {type(selection).__name__}")
        if selection is not None and (rules is not None or keep_unmatched):
            raise ValueError("give rules or selection, not both")
        self.selection = selection
        if rules is not None and not isinstance(rules, RuleSet):
            raise TypeError(f"rules must be a pyetwkit.sigma.RuleSet, not {type(rules).__name__}")
        if keep_unmatched and rules is None:
            raise ValueError("keep_unmatched applies only with rules")
        self.rules = rules
        self.keep_unmatched = keep_unmatched
        if prescan_schemas and etl_file is None:
            raise ValueError("prescan_schemas applies to file replay only")
        self.prescan_schemas = prescan_schemas
        if buffers is not None and not isinstance(buffers, Buffers):
            raise TypeError(f"buffers must be a pyetwkit.Buffers, not {type(buffers).__name__}")
        self.buffers = buffers
        if preset not in (None, "low_latency", "balanced", "high_throughput"):
            raise ValueError(
                f"preset must be 'low_latency', 'balanced' or 'high_throughput', not {preset!r}"
            )
        self.preset = preset
        if on_conflict not in ("error", "replace"):
            raise ValueError(f"on_conflict must be 'error' or 'replace', not {on_conflict!r}")
        self.label = label
        self.on_conflict = on_conflict
        if isinstance(providers, Provider | KernelProvider):
            providers = [providers]
        self.providers = list(providers or [])
        if etl_file is None and not self.providers:
            raise ValueError("give providers (a live session) or etl_file (replay a recording)")
        if etl_file is not None and self.providers:
            raise ValueError("give either providers or etl_file, not both")
        # Live: simulated from a recording inside testing.simulated_etw(), else ETW.
        self.simulation = None if etl_file is not None else current_simulation()
        if etl_file is None and self.simulation is None:
            _require_live_sessions()
        require_filter(filter)
        if overflow not in (None, "block", "drop"):
            raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")
        if replay_speed is not None and etl_file is None:
            raise ValueError("replay_speed applies to file replay only")
        if (preset is not None or buffers is not None) and etl_file is not None:
            raise ValueError("preset and buffers apply to live sessions only")
        self.etl_file = None if etl_file is None else path_str(etl_file, "etl_file")
        self.filter = filter
        self.replay_speed = _positive("replay_speed", replay_speed)
        self.capacity = _count("capacity", capacity, _MAX_CAPACITY)
        self.batch_size = _count("batch_size", batch_size, _MAX_BATCH_SIZE)
        interval = seconds_or_none("flush_interval", flush_interval)
        if interval is None or interval > _MAX_FLUSH_INTERVAL:
            most = f"{_MAX_FLUSH_INTERVAL:.0f}"
            raise ValueError(f"flush_interval must be at most {most} seconds, not {flush_interval}")
        self.flush_interval = interval
        self.overflow = overflow
        if preload and etl_file is None:
            raise ValueError("preload applies to file replay only")
        self.preload = preload
        if prescan_processes and etl_file is None:
            raise ValueError("prescan_processes applies to file replay only")
        self.prescan_processes = prescan_processes
        self.manifests = resolve_manifests(manifests)

    def start(self) -> Session:
        if self.etl_file is None:
            return self._start_live()
        return Session.replay(
            self.etl_file,
            filter_json=None if self.filter is None else self.filter.to_json(),
            speed=self.replay_speed,
            capacity=self.capacity,
            batch_size=self.batch_size,
            flush_interval=self.flush_interval,
            overflow=self.overflow,
            preload=self.preload,
            manifests=self.manifests,
            prescan_processes=self.prescan_processes,
            prescan_schemas=self.prescan_schemas,
            rules=None if self.rules is None else self.rules._inner,
            keep_unmatched=self.keep_unmatched,
            selection=self.selection,
        )

    def _start_live(self) -> Session:
        sim = self.simulation
        session = Session.live(
            enable_json(self.providers, self.buffers),
            label=self.label,
            on_conflict=self.on_conflict,
            filter_json=None if self.filter is None else self.filter.to_json(),
            capacity=self.capacity,
            batch_size=self.batch_size,
            flush_interval=self.flush_interval,
            overflow=self.overflow,
            preset=self.preset or "balanced",
            # Inside testing.simulated_etw(), served from its recording.
            recording=None if sim is None else sim.recording,
            simulated_overflow="block" if sim is None else sim.overflow,
            at_end="stop" if sim is None else sim.at_end,
            preload=sim is not None and sim.preload,
            manifests=[] if sim is None else [*sim.manifests, *self.manifests],
            rules=None if self.rules is None else self.rules._inner,
            keep_unmatched=self.keep_unmatched,
            selection=self.selection,
        )
        _close_at_exit(session)
        return session


def enable_json(providers: Sequence[ProviderLike], buffers: Buffers | None = None) -> str:
    """What a live session enables, as the Rust side reads it (spec.rs)."""
    kernel = [p for p in providers if isinstance(p, KernelProvider)]
    spec: dict[str, object] = {
        "providers": [
            {
                "guid": p.guid,
                "name": p.name,
                "level": int(p.level),
                "keywords_any": int(p.keywords_any),
                "keywords_all": int(p.keywords_all),
                **({"event_ids": list(p.event_ids)} if p.event_ids else {}),
                "event_ids_in": not p.exclude_event_ids,
                "pids": list(p.pids),
                "stack_trace": p.stack_trace,
                "sid": p.sid,
                "session_id": p.session_id,
            }
            for p in providers
            if isinstance(p, Provider)
        ],
        "kernel_flags": functools.reduce(operator.or_, (int(p.flags) for p in kernel), 0),
        "nt_kernel_logger": any(p.nt_kernel_logger for p in kernel),
    }
    if buffers is not None:
        spec["buffers"] = {k: v for k, v in asdict(buffers).items() if v is not None}
    return json.dumps(spec)


class SessionClient:
    """What EtwListener and EtwStreamer share: their arguments (see EtwListener),
    the session they start, the events fetched but not yet handed out, stats."""

    def __init__(
        self,
        providers: Sequence[ProviderLike] | ProviderLike | None = None,
        *,
        etl_file: PathArg | None = None,
        filter: Filter | None = None,
        replay_speed: float | None = None,
        capacity: int = 64,
        batch_size: int = 1024,
        flush_interval: float = 0.01,
        overflow: OverflowPolicy | None = None,
        preload: bool = False,
        manifests: Iterable[ManifestLike] | ManifestLike | None = None,
        prescan_processes: bool = False,
        label: str = "session",
        on_conflict: Literal["error", "replace"] = "error",
        preset: Preset | None = None,
        buffers: Buffers | None = None,
        prescan_schemas: bool = False,
        rules: RuleSet | None = None,
        keep_unmatched: bool = False,
        selection: Selection | None = None,
    ) -> None:
        self._options = SessionOptions(
            providers,
            etl_file,
            filter,
            replay_speed,
            capacity,
            batch_size,
            flush_interval,
            overflow,
            preload,
            manifests,
            prescan_processes,
            label,
            on_conflict,
            preset,
            buffers,
            prescan_schemas,
            rules,
            keep_unmatched,
            selection,
        )
        self._session: Session | None = None
        self._pending: deque[EtwEvent] = deque()
        self._done = False
        self._etw_lost = 0  # ETW losses warned about so far

    def start(self) -> SessionClient:
        raise NotImplementedError

    @property
    def done(self) -> bool:
        """True once the stream has ended (source exhausted, stopped or closed)
        and every event fetched was handed out."""
        return self._done and not self._pending

    def stats(self) -> SessionStats:
        """Received, delivered, filtered out, dropped, ETW's losses, events/s."""
        return self._require().stats()

    def _watch_losses(self, session: Session) -> None:
        """Warns as ETW's own losses grow (live sessions; files have none)."""
        if self._options.etl_file is None:
            self._etw_lost = report_etw_losses(session.stats(), self._etw_lost)

    def _require(self) -> Session:
        if self._session is None:
            self.start()
        assert self._session is not None
        return self._session

    def __repr__(self) -> str:
        source = self._options.etl_file or ", ".join(p.name for p in self._options.providers)
        state = "not started" if self._session is None else ("done" if self.done else "running")
        return f"<{type(self).__name__} {source!r} {state}>"


# The bounds the Rust pipeline enforces (pipeline/config.rs), checked here first
# so that every absurd value is a ValueError, whatever its Python type.
_MAX_CAPACITY = 1 << 16
_MAX_BATCH_SIZE = 1 << 20
_MAX_FLUSH_INTERVAL = 86_400.0
# What Rust's Duration holds: u64 seconds (Duration::try_from_secs_f64).
_MAX_SECONDS = 2.0**64


def _count(name: str, value: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 1 <= value <= most:
        raise ValueError(f"{name} must be between 1 and {most}, not {value}")
    return value


def _positive(name: str, value: float | None) -> float | None:
    seconds = seconds_or_none(name, value)  # the same number checks
    if value is not None and (seconds is None or seconds == 0):
        raise ValueError(f"{name} must be a positive, finite number, not {value}")
    return seconds


def seconds_or_none(name: str, value: float | None) -> float | None:
    """A timeout as Rust takes it: ``None`` or ``inf`` for no limit; NaN,
    negative and non-numbers refused with ``ValueError``/``TypeError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    try:
        seconds = float(value)
    except OverflowError:
        raise ValueError(f"{name} of {value} seconds is too large") from None
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds, not {value}")
    if math.isinf(seconds):
        return None
    if seconds >= _MAX_SECONDS:
        raise ValueError(f"{name} of {value} seconds is too large")
    return seconds


# Live (and simulated) sessions still open: stopped at interpreter exit, since
# an ETW session outlives its process (the next start would sweep it, but only
# then). Stopping is enough: the ETW session ends, and the threads with it.
_open_live: weakref.WeakSet[Session] = weakref.WeakSet()


def _close_at_exit(session: Session) -> None:
    _open_live.add(session)


@atexit.register
def _close_live_sessions() -> None:
    for session in list(_open_live):
        session.stop()


def report_etw_losses(stats: SessionStats, already: int) -> int:
    """Warns when ETW itself lost more events than ``already``; returns the count."""
    lost = stats.etw_events_lost or 0
    if lost > already:
        logger().warning(
            "ETW lost %d events (%d buffers) before pyetwkit saw them: the session's buffers "
            "overflowed; try preset='high_throughput' or fewer providers",
            lost,
            stats.etw_buffers_lost or 0,
        )
    return lost


def report_close(session: Session, left_behind: float | None) -> None:
    """Logs what a user should know once a session is closed."""
    stats = session.stats()
    if stats.dropped:
        logger().warning(
            "%d of %d events were dropped (channel full, or unread at close): %r",
            stats.dropped,
            stats.received,
            stats,
        )
    if left_behind is not None:
        logger().warning(
            "the event source did not stop within %.1f s; its thread was left behind",
            left_behind,
        )


def report_failure(error: BaseException) -> None:
    logger().error("the event source failed: %s", error)


def _require_live_sessions() -> None:
    if sys.platform != "win32":
        raise EtwUnsupportedPlatformError(
            f"live ETW sessions need Windows (this is {sys.platform}). Replaying recorded "
            ".etl files works everywhere: EtwListener(etl_file=...), EtwStreamer(etl_file=...) "
            "or pyetwkit.open_etl(...); to test live-session code here, run it inside "
            "pyetwkit.testing.simulated_etw(recording)."
        )
    if not live_sessions_supported():
        raise EtwUnsupportedPlatformError(
            "this build of pyetwkit has no live ETW sessions yet; replay .etl files with "
            "EtwListener(etl_file=...) or pyetwkit.open_etl(...), or test live-session code "
            "inside pyetwkit.testing.simulated_etw(recording)."
        )
