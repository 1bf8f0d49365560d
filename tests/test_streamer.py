"""EtwStreamer: async replay equals open_etl; timeouts; cancellation leaves
nothing behind; several at once; errors in order."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pyetwkit
import pytest
from conftest import adrain, corpus_files, drain, needs_corpus
from pyetwkit import EtlFormatError, EtwEvent, EtwStreamer


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


async def collect(stream: EtwStreamer) -> list[EtwEvent]:
    return [event async for event in stream]


@needs_corpus
@pytest.mark.parametrize("name", corpus_files())
async def test_async_replay_yields_exactly_the_events_of_open_etl(corpus: Path, name: str) -> None:
    with pyetwkit.open_etl(corpus / name) as etl:
        direct = list(etl)
    async with EtwStreamer(etl_file=corpus / name, capacity=4, batch_size=256) as stream:
        replayed = await collect(stream)
        stats = stream.stats()
    assert replayed == direct
    assert stats.received == stats.delivered == len(direct)


async def test_next_timeout_returns_none() -> None:
    async with EtwStreamer(etl_file=pyetwkit.sample_etl_path(), replay_speed=0.001) as stream:
        assert await stream.next() is not None
        loop = asyncio.get_running_loop()
        t = loop.time()
        assert await stream.next(timeout=0.2) is None
        assert 0.15 < loop.time() - t < 5
        assert not stream.done


async def test_cancelling_the_task_leaves_no_thread_and_loses_nothing() -> None:
    before = native_threads()
    stream = EtwStreamer(etl_file=pyetwkit.sample_etl_path(), replay_speed=0.01)

    async def consume() -> None:
        async with stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.done
    s = stream.stats()
    assert s.received == s.delivered + s.dropped + s.filtered_out
    # Threads may need a moment to be reaped by the OS after join.
    deadline = time.monotonic() + 2
    while native_threads() != before and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert native_threads() == before


async def test_a_cancelled_wait_keeps_its_events() -> None:
    async with EtwStreamer(etl_file=pyetwkit.sample_etl_path(), replay_speed=0.05) as stream:
        got = [await stream.next()]
        waiter = asyncio.create_task(stream.next())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        got += [e async for e in stream]
    with pyetwkit.open_etl(pyetwkit.sample_etl_path()) as etl:
        assert got == list(etl)


async def test_several_streamers_at_once(tmp_path: Path) -> None:
    path = pyetwkit.sample_etl_path()

    async def run(speed: float | None) -> int:
        async with EtwStreamer(etl_file=path, replay_speed=speed) as stream:
            return len(await collect(stream))

    counts = await asyncio.gather(run(None), run(None), run(2.0), run(5.0))
    assert counts == [128, 128, 128, 128]


async def test_no_idle_wakeups_while_waiting() -> None:
    """While nothing arrives, the loop is not woken: a long wait costs no CPU."""
    async with EtwStreamer(etl_file=pyetwkit.sample_etl_path(), replay_speed=0.001) as stream:
        await stream.next()
        cpu = time.process_time()
        assert await stream.next(timeout=0.5) is None
        assert time.process_time() - cpu < 0.1


async def test_errors_arrive_after_the_events_before_them(tmp_path: Path) -> None:
    data = Path(pyetwkit.sample_etl_path()).read_bytes()
    cut = tmp_path / "cut.etl"
    cut.write_bytes(data[:-500])
    direct, direct_error = drain(pyetwkit.open_etl(cut))
    async with EtwStreamer(etl_file=cut) as stream:
        got, error = await adrain(stream)
    assert isinstance(direct_error, EtlFormatError)
    assert isinstance(error, EtlFormatError)
    assert got == direct
    assert error.path == str(cut)
