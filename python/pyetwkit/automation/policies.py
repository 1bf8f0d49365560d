"""Policies, as small state machines over an injected clock (tests use a fake one):
throttle (at most N per window, per key), dedupe (repeats dropped within a window,
per key), retries with exponential backoff, and the concurrency modes of an action."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pyetwkit.automation.config import Mode

# Keys remembered at most per policy; the least recently seen goes first, so a
# stream of distinct keys (a pid each) cannot grow memory without bound.
MAX_KEYS = 65_536


@dataclass
class Throttle:
    """At most ``count`` runs per ``window`` seconds for each key (sliding window)."""

    count: int
    window: float
    _runs: dict[str, deque[float]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        runs = self._runs.pop(key, None) or deque()
        while runs and runs[0] <= now - self.window:
            runs.popleft()
        allowed = len(runs) < self.count
        if allowed:
            runs.append(now)
        self._runs[key] = runs  # most recent last
        if len(self._runs) > MAX_KEYS:
            self._runs.pop(next(iter(self._runs)))
        return allowed


@dataclass
class Dedupe:
    """A key seen again within ``window`` seconds of its first sighting is a repeat."""

    window: float
    _first: dict[str, float] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        first = self._first.get(key)
        if first is not None and now - first < self.window:
            return False
        self._first.pop(key, None)
        self._first[key] = now
        if len(self._first) > MAX_KEYS:
            self._first.pop(next(iter(self._first)))
        return True


def backoff_delays(retries: int, backoff: float) -> list[float]:
    """The waits before each retry: ``backoff``, then doubling."""
    return [backoff * 2**i for i in range(retries)]


async def with_retries(
    attempt: Callable[[], Awaitable[bool]],
    retries: int,
    backoff: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[bool, int]:
    """Runs ``attempt`` until it succeeds or the retries are spent: (ok, attempts)."""
    if await attempt():
        return True, 1
    for n, delay in enumerate(backoff_delays(retries, backoff), 2):
        await sleep(delay)
        if await attempt():
            return True, n
    return False, retries + 1


class Dispatcher:
    """Runs one action's jobs by its mode: ``queued`` one after another (nothing
    dropped), ``parallel`` up to ``max_concurrent`` at once, ``single`` drops a job
    while one runs, ``restart`` cancels the running job for the new one."""

    def __init__(self, mode: Mode, max_concurrent: int = 1) -> None:
        self.mode = mode
        self.limit = max_concurrent if mode == "parallel" else 1
        self._running: set[asyncio.Task[None]] = set()
        self._queue: deque[Callable[[], Awaitable[None]]] = deque()
        self._cancelling: set[asyncio.Task[None]] = set()
        self.dropped = 0
        self.cancelled = 0

    def submit(self, job: Callable[[], Awaitable[None]]) -> bool:
        """Starts or queues ``job``; False when the mode drops it (``single``)."""
        if self._running and self.mode == "single":
            self.dropped += 1
            return False
        if self._running and self.mode == "restart":
            # Cancelled now; forgotten now, so the next restart does not count them again.
            for task in self._running:
                task.cancel()
                self.cancelled += 1
                self._cancelling.add(task)
            self._running.clear()
        if len(self._running) < self.limit or self.mode == "restart":
            self._start(job)
        else:
            self._queue.append(job)
        return True

    def _start(self, job: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.ensure_future(job())
        self._running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._cancelling.discard(task)
        while self._queue and len(self._running) < self.limit:
            self._start(self._queue.popleft())

    async def drain(self) -> None:
        """Waits until every job submitted has finished."""
        while self._running or self._queue or self._cancelling:
            await asyncio.gather(*self._running, *self._cancelling, return_exceptions=True)
