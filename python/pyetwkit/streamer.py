"""EtwStreamer: events from a session, with ``async for``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING

from pyetwkit._core import EtwEvent, Session
from pyetwkit._session import (
    FETCH_ASYNC,
    SessionClient,
    report_close,
    report_failure,
    seconds_or_none,
)
from pyetwkit.exceptions import EtwError

if TYPE_CHECKING:
    import asyncio

__all__ = ["EtwStreamer"]

Result = list[EtwEvent] | BaseException | None


class EtwStreamer(SessionClient):
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

    # The source's failure, raised after the events before it.
    _error: BaseException | None = None
    # Whether a request for events is with the pump thread.
    _requested: bool = False
    # What next() awaits; shared so a timed-out or cancelled wait loses nothing.
    _waiter: asyncio.Future[None] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _closed: bool = False

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
        if self._session is not None and not self._closed:
            self._closed = True
            self._session.discard(len(self._pending))
            self._pending.clear()
            left_behind = self._session.close()
            self._watch_losses(self._session)
            report_close(self._session, left_behind)
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

        timeout = seconds_or_none("timeout", timeout)
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
            report_failure(result)
            self._error = result
        else:
            self._pending.extend(result)
        if self._session is not None:
            self._watch_losses(self._session)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
