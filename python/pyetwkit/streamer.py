"""EtwStreamer: events from a session, with ``async for``."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from pyetwkit._core import EtwEvent, Session, SessionStats
from pyetwkit._session import FETCH_ASYNC, OverflowPolicy, ProviderLike, SessionOptions
from pyetwkit.exceptions import EtwError
from pyetwkit.filters import Filter

if TYPE_CHECKING:
    import asyncio

__all__ = ["EtwStreamer"]

Result = list[EtwEvent] | BaseException | None


class EtwStreamer:
    """Events from live providers (Windows) or a replayed .etl file, for asyncio.

    The Rust side wakes the event loop (``call_soon_threadsafe``) when events are
    ready: no polling, no wakeups while idle. It takes the same arguments as
    :class:`pyetwkit.EtwListener`. Cancelling a waiting task loses no event;
    several streamers can run at once.

    Example::

        async with EtwStreamer(etl_file="trace.etl") as stream:
            async for event in stream:
                ...
    """

    def __init__(
        self,
        providers: Sequence[ProviderLike] | ProviderLike | None = None,
        *,
        etl_file: str | os.PathLike[str] | None = None,
        filter: Filter | None = None,
        replay_speed: float | None = None,
        capacity: int = 64,
        batch_size: int = 1024,
        flush_interval: float = 0.01,
        overflow: OverflowPolicy | None = None,
        preload: bool = False,
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
        )
        self._session: Session | None = None
        self._pending: deque[EtwEvent] = deque()
        self._error: BaseException | None = None
        self._done = False
        self._requested = False
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # Lifecycle

    def start(self) -> EtwStreamer:
        if self._session is None:
            if self._done:
                raise EtwError("this streamer was closed; create a new one")
            self._session = self._options.start()
        return self

    def stop(self) -> None:
        """Ends the stream; safe from any thread."""
        if self._session is not None:
            self._session.stop()

    async def aclose(self) -> None:
        """Stops and joins the session's threads. Idempotent."""
        self.close()

    def close(self) -> None:
        if self._session is not None:
            self._session.discard(len(self._pending))
            self._pending.clear()
            self._session.close()
        self._done = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def __aenter__(self) -> EtwStreamer:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Reading

    @property
    def done(self) -> bool:
        return self._done and not self._pending

    def __aiter__(self) -> AsyncIterator[EtwEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[EtwEvent]:
        # An async generator: its __anext__ is C code, which costs about half of a
        # Python `async def __anext__` per event.
        pending = self._pending
        while True:
            while pending:
                yield pending.popleft()
            event = await self.next()
            if event is None:
                return
            yield event

    async def next(self, timeout: float | None = None) -> EtwEvent | None:
        """The next event, or ``None`` if ``timeout`` seconds pass without one or
        the stream has ended (see :attr:`done`)."""
        import asyncio  # here, not at import time: importing asyncio costs 30 ms

        session = self._require()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._error is not None:
                error, self._error = self._error, None
                self._done = True
                raise error
            if self._done:
                return None
            waiter = self._await_results(session, loop)
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            try:
                # shield: a timeout or cancellation here leaves the shared waiter
                # (and the events it will bring) for the next call.
                await asyncio.wait_for(asyncio.shield(waiter), remaining)
            except asyncio.TimeoutError:
                return None

    def stats(self) -> SessionStats:
        return self._require().stats()

    def _await_results(
        self, session: Session, loop: asyncio.AbstractEventLoop
    ) -> asyncio.Future[None]:
        if self._waiter is None or self._waiter.done():
            self._waiter = loop.create_future()
        if not self._requested:
            self._requested = True
            self._loop = loop
            session.request(self._on_result, FETCH_ASYNC)
        return self._waiter

    def _on_result(self, result: Result) -> None:
        # Called on the pump thread (with the GIL): hand over to the loop's thread.
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, result)

    def _deliver(self, result: Result) -> None:
        self._requested = False
        if result is None:
            self._done = True
        elif isinstance(result, BaseException):
            self._error = result
        else:
            self._pending.extend(result)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _require(self) -> Session:
        if self._session is None:
            self.start()
        assert self._session is not None
        return self._session

    def __repr__(self) -> str:
        source = self._options.etl_file or ", ".join(p.name for p in self._options.providers)
        state = "not started" if self._session is None else ("done" if self.done else "running")
        return f"<EtwStreamer {source!r} {state}>"
