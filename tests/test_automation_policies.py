"""Policies hold exactly under bursts, on a fake clock."""

from __future__ import annotations

import asyncio

from pyetwkit.automation.policies import Dedupe, Dispatcher, Throttle, with_retries


def test_throttle_allows_exactly_n_per_window_per_key() -> None:
    t = Throttle(count=3, window=10.0)
    burst = [t.allow("pid-1", 0.0) for _ in range(100)]
    assert burst.count(True) == 3
    assert burst[:3] == [True] * 3
    assert t.allow("pid-2", 0.0)  # another key has its own budget
    assert not t.allow("pid-1", 9.999)
    assert t.allow("pid-1", 10.0)  # the first run has left the window


def test_dedupe_drops_repeats_within_the_window() -> None:
    d = Dedupe(window=5.0)
    assert d.allow("k", 0.0)
    assert [d.allow("k", t) for t in (1.0, 2.0, 4.999)] == [False] * 3
    assert d.allow("k", 5.0)
    assert not d.allow("k", 6.0)
    assert d.allow("other", 6.0)


async def test_retries_back_off_by_the_policy() -> None:
    waits: list[float] = []
    outcomes = iter([False, False, True])

    async def attempt() -> bool:
        return next(outcomes)

    async def sleep(delay: float) -> None:
        waits.append(delay)

    assert await with_retries(attempt, retries=3, backoff=0.5, sleep=sleep) == (True, 3)
    assert waits == [0.5, 1.0]

    async def never() -> bool:
        return False

    waits.clear()
    assert await with_retries(never, retries=2, backoff=1.0, sleep=sleep) == (False, 3)
    assert waits == [1.0, 2.0]


async def _burst(mode: str, n: int, limit: int = 1) -> tuple[Dispatcher, list[int], int]:
    d = Dispatcher(mode, limit)  # type: ignore[arg-type]
    done: list[int] = []
    active = peak = 0

    def job(i: int):  # type: ignore[no-untyped-def]
        async def run() -> None:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            try:
                await asyncio.sleep(0.01)
                done.append(i)
            finally:
                active -= 1

        return run

    for i in range(n):
        d.submit(job(i))
    await d.drain()
    return d, done, peak


async def test_modes() -> None:
    d, done, peak = await _burst("queued", 10)
    assert (done, peak, d.dropped) == (list(range(10)), 1, 0)
    d, done, peak = await _burst("parallel", 10, limit=3)
    assert (sorted(done), peak) == (list(range(10)), 3)
    d, done, _ = await _burst("single", 10)
    assert (done, d.dropped) == ([0], 9)
    d, done, _ = await _burst("restart", 10)
    assert (done, d.cancelled) == ([9], 9)
