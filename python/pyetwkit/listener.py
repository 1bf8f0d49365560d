"""EtwListener: events from a session, synchronously."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

from pyetwkit._core import EtwEvent, Session
from pyetwkit._session import (
    FETCH_SYNC,
    SessionClient,
    report_close,
    report_failure,
    seconds_or_none,
)
from pyetwkit.exceptions import EtwError

__all__ = ["EtwListener"]


class EtwListener(SessionClient):
    """Events from live providers (Windows) or a replayed .etl file, in order.

    Events pass through a bounded channel from a source thread, filtered in
    Rust on the way. Waits release the GIL; Ctrl-C interrupts them; ``stop()``
    from another thread ends the iteration.

    Args:
        providers: live providers (Windows only; see :mod:`pyetwkit.providers`).
        etl_file: replay this recording instead (any OS).
        filter: a :mod:`pyetwkit.filters` expression, evaluated in Rust.
        replay_speed: ``None`` replays as fast as possible; ``1.0`` at the
            recorded pace, ``2.0`` twice as fast.
        capacity: batches the channel holds.
        batch_size: events per batch at most.
        flush_interval: seconds an event may wait for its batch to fill.
        overflow: ``"block"`` (lossless; the default for files) or ``"drop"``
            (count and discard when Python falls behind; the default live).
        preload: read the whole recording into memory when the session starts,
            so the replay itself does no disk reads or decompression (exact
            paced timing; memory grows with the file).
        manifests: instrumentation manifests (paths or :class:`pyetwkit.Manifest`)
            to decode manifest-based events with; see :func:`pyetwkit.open_etl`.
        prescan_schemas: replay: read the file's embedded schemas first; see
            :func:`pyetwkit.open_etl`.
        label: live sessions are named ``pyetwkit-{label}-{pid}``.
        on_conflict: ``"error"`` (the default) raises SessionExistsError when a
            session of that name runs; ``"replace"`` stops it and starts anew.
        preset: ETW's buffers for a live session: ``"low_latency"``,
            ``"balanced"`` (the default) or ``"high_throughput"``.
        buffers: explicit :class:`pyetwkit.Buffers` sizes, replacing the preset's.
        rules: a :class:`pyetwkit.sigma.RuleSet`, matched in Rust on the source's
            thread through the ETW-to-Sigma mapping: only events a rule selects
            are delivered, each with ``event.matches``.
        keep_unmatched: with ``rules``, deliver every event (``event.matches``
            empty on those no rule selected).

    Example::

        with EtwListener(etl_file="trace.etl", filter=filters.event_id(1)) as listener:
            for event in listener:
                print(event.timestamp, event.process_name)
            print(listener.stats())
    """

    # Set by stop(), from any thread: iteration ends at the next event.
    _stopped: bool = False
    _closed: bool = False

    # Lifecycle

    def start(self) -> EtwListener:
        """Starts the session (once; later calls do nothing)."""
        if self._session is None:
            if self._stopped:
                raise EtwError("this listener was stopped; create a new one")
            self._session = self._options.start()
        return self

    def stop(self) -> None:
        """Ends the stream. Safe from any thread: a blocked wait returns promptly."""
        self._stopped = True
        if self._session is not None:
            self._session.stop()

    def close(self) -> None:
        """Stops and releases the session's thread. Idempotent."""
        self.stop()
        if self._session is not None and not self._closed:
            self._closed = True
            self._session.discard(len(self._pending))
            self._pending.clear()
            left_behind = self._session.close()
            self._watch_losses(self._session)
            report_close(self._session, left_behind)
        self._done = True

    def __enter__(self) -> EtwListener:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Reading

    def __iter__(self) -> Iterator[EtwEvent]:
        """Every event until the stream ends."""
        session = self._require()
        pending = self._pending
        while True:
            while pending and not self._stopped:
                yield pending.popleft()
            if self._done or self._stopped:
                return
            batch = self._fetch(session, None)
            if batch is None:
                self._done = True
                return
            pending.extend(batch)

    def events(
        self, timeout: float | None = None, max_events: int | None = None
    ) -> Iterator[EtwEvent]:
        """Events until ``timeout`` seconds pass with none arriving, ``max_events``
        have come, or the stream ends. Unread events stay for the next call."""
        timeout = seconds_or_none("timeout", timeout)
        if max_events is not None and max_events < 0:
            raise ValueError(f"max_events must be at least 0, not {max_events}")
        count = 0
        while max_events is None or count < max_events:
            event = self.next_event(timeout)
            if event is None:
                return
            count += 1
            yield event

    def next_event(self, timeout: float | None = None) -> EtwEvent | None:
        """The next event, or ``None`` if ``timeout`` seconds passed without one or
        the stream has ended (see :attr:`done`)."""
        timeout = seconds_or_none("timeout", timeout)
        session = self._require()
        if self._pending and not self._stopped:
            return self._pending.popleft()
        if self._done or self._stopped:
            return None
        batch = self._fetch(session, timeout)
        if batch is None:
            self._done = True
            return None
        if not batch:
            return None
        self._pending.extend(batch)
        return self._pending.popleft()

    def _fetch(self, session: Session, timeout: float | None) -> list[EtwEvent] | None:
        try:
            batch = session.next_events(FETCH_SYNC, timeout)
            self._watch_losses(session)
            return batch
        except EtwError as error:
            report_failure(error)
            raise
