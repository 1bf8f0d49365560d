"""Type stubs for pyetwkit's Rust extension. Checked against the built module
with ``mypy.stubtest`` in CI, so they cannot drift from the bindings."""

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, final

__version__: str

class EtwError(Exception):
    """Base class of every pyetwkit error."""

class EtlFormatError(EtwError):
    """An .etl file is corrupt or truncated.

    Raised only after every event before the fault has been delivered.
    """

    path: str
    """The file."""
    offset: int
    """Byte offset of the fault in the file. For a record inside a compressed
    buffer, the offset of that buffer (the message gives the offset inside it)."""

class NotAnEtlFileError(EtlFormatError):
    """The file does not start like an .etl file; raised when it is opened."""

class EtwUnsupportedPlatformError(EtwError):
    """Live ETW sessions need Windows; reading .etl files works on every OS."""

class ManifestError(EtwError):
    """An instrumentation manifest could not be parsed; the message names the
    file and why."""

class SessionClosedError(EtwError):
    """The session is closed, or is being consumed the other way (sync or async)."""

class SessionExistsError(EtwError):
    """A live session of that name already exists (Win32 error 183); see on_conflict."""

class SessionLimitError(EtwError):
    """The system's 64 ETW sessions, or a provider's sessions, are all in use (Win32 error 1450)."""

class SessionNotFoundError(EtwError):
    """No live session of that name is running (Win32 error 4201)."""

EventKind = Literal["event", "classic", "kernel", "wpp"]
ClockType = Literal["qpc", "system_time", "cpu_cycles"]

@final
class EtwEvent:
    """One ETW event, the same type whatever the source (file or live session).

    Header fields are read eagerly; extended data items are parsed when touched.
    Events compare equal when all their fields and bytes are equal.
    """

    @property
    def kind(self) -> EventKind:
        """``"event"`` (EVENT_HEADER), ``"classic"`` (EVENT_TRACE_HEADER),
        ``"kernel"`` (SYSTEM/COMPACT/PERFINFO headers) or ``"wpp"``."""
    @property
    def header_type(self) -> int | None:
        """The raw header type byte of a file's record (0 for WPP); ``None`` for
        live events, which have no file format."""
    @property
    def pointer_size(self) -> int:
        """The pointer size of the process that logged the event: 4 or 8."""
    @property
    def provider_id(self) -> str:
        """Lowercase GUID without braces. Kernel records get their MOF event
        class GUID, as a live session reports them."""
    @property
    def provider_name(self) -> str | None:
        """The provider's name, the same one filters match: the kernel class
        name, a TraceLogging provider's traits, or the manifest or embedded
        schema that describes the event."""
    @property
    def event_id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def opcode(self) -> int:
        """For kernel records, the hook's type."""
    @property
    def level(self) -> int: ...
    @property
    def task(self) -> int: ...
    @property
    def keywords(self) -> int: ...
    @property
    def channel(self) -> int: ...
    @property
    def pid(self) -> int | None:
        """``None`` where the record has none (PERFINFO records)."""
    @property
    def tid(self) -> int | None: ...
    @property
    def processor(self) -> int | None:
        """``None`` unless the buffer recorded its processor."""
    @property
    def timestamp(self) -> str:
        """UTC, ISO 8601 with 100 ns precision, e.g. ``2021-07-26T18:42:03.1234567Z``."""
    @property
    def filetime(self) -> int:
        """The same instant as FILETIME ticks (100 ns since 1601-01-01 UTC)."""
    @property
    def name(self) -> str | None:
        """Event name when known: the TraceLogging event name, ``Task/Opcode``
        for manifest events (task and opcode names), ``Class/Opcode`` for kernel
        events such as ``Process/Start``."""
    @property
    def properties(self) -> dict[str, Any]:
        """Decoded payload fields, name → value, decoded on first access (and kept).

        Values are typed: ``int``, ``float``, ``bool``, ``str``, ``bytes``,
        ``uuid.UUID``, ``ipaddress`` addresses, ``datetime.datetime`` (UTC for
        FILETIME; ISO 8601 text for times past what ``datetime`` holds), lists
        and dicts (structs); a value- or bit-mapped integer becomes its name.
        Empty when no decoder knows the event: TraceLogging events, kernel
        events of the documented classes, and manifest events whose manifest
        was given or whose schema the trace embeds."""
    @property
    def property_view(self) -> PropertyView:
        """The same properties as a lazy, read-only mapping: a value is converted
        only when it is read. About twice as fast as :attr:`properties` when a
        loop reads one or two values of each event, a little slower when it
        reads them all (docs/performance.md); ``dict(view)`` makes a dict."""
    @property
    def properties_complete(self) -> bool | None:
        """``True`` when every property of the event's layout was decoded and
        no bytes were left that the layout does not allow for; ``False`` when
        only part could be read safely; ``None`` when no decoder knows the event.

        Manifest events may carry fields a newer provider version appended
        without a new event version (ETW's versioning rule): those bytes are
        counted in :attr:`undecoded_bytes` and do not make the decode partial.
        Kernel and TraceLogging layouts are exact."""
    @property
    def undecoded_bytes(self) -> int | None:
        """Payload bytes after the last decoded property (``None`` when no
        decoder knows the event)."""
    @property
    def user_data(self) -> bytes:
        """The raw payload bytes."""
    @property
    def activity_id(self) -> str | None: ...
    @property
    def related_activity_id(self) -> str | None: ...
    @property
    def stack(self) -> list[int] | None:
        """Return addresses from a stack-trace extended item."""
    @property
    def sid(self) -> str | None:
        """The user SID (``S-1-5-...``) from a SID extended item."""
    @property
    def session_id(self) -> int | None:
        """Terminal session id from an extended item."""
    @property
    def process_start_key(self) -> int | None: ...
    @property
    def process_name(self) -> str | None:
        """The image name of the event's process (``"svchost.exe"``), known from
        the kernel Process events read so far (rundown included), by pid and
        time, so a reused pid names each process right; ``None`` when unknown.
        Set alike by :func:`pyetwkit.open_etl`, listeners and streamers. Not part
        of equality."""
    @property
    def process_command_line(self) -> str | None:
        """The command line of the event's process, known as :attr:`process_name`
        is (from Process events of version 2 and later). Not part of equality."""
    @property
    def matches(self) -> list[Any]:
        """The :class:`pyetwkit.sigma.Match` objects a ``rules=`` stage attached;
        empty when no rule matched or none were given. Not part of equality."""
    @property
    def selection(self) -> tuple[int, list[tuple[str, list[Any]]]] | None:
        """When an automation's :class:`Selection` chose the event: the selection's
        generation and, per selector that chose it, its name and Sigma matches
        (:class:`pyetwkit.sigma.Match`). Not part of equality."""
    @property
    def file_offset(self) -> int | None:
        """Files: where the record was read, its file offset, or for a record
        inside a compressed buffer, that buffer's offset. ``None`` live."""
    @property
    def extended_data(self) -> list[tuple[int, bytes]]:
        """Every extended data item as ``(type, data)``, raw."""
    def to_dict(self) -> dict[str, object]:
        """The event with DESIGN.md's field names; ``user_data`` as bytes."""
    def to_json(self) -> str:
        """One JSON Lines object (no newline); ``user_data`` as lowercase hex."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...

@final
class LogfileHeader:
    """The logfile information of an .etl file (TRACE_LOGFILE_HEADER)."""

    @property
    def logger_name(self) -> str: ...
    @property
    def log_file_name(self) -> str: ...
    @property
    def os_version(self) -> tuple[int, int]:
        """(major, minor), e.g. (10, 0)."""
    @property
    def os_build(self) -> int: ...
    @property
    def cpu_count(self) -> int: ...
    @property
    def pointer_size(self) -> int:
        """4 or 8: the pointer size of the recording session."""
    @property
    def events_lost(self) -> int:
        """Events ETW itself lost while recording."""
    @property
    def buffers_lost(self) -> int: ...
    @property
    def buffers_written(self) -> int: ...
    @property
    def buffer_size(self) -> int: ...
    @property
    def log_file_mode(self) -> int: ...
    @property
    def compressed(self) -> bool:
        """Whether buffers after the first are compressed (relogged or merged)."""
    @property
    def clock_type(self) -> ClockType: ...
    @property
    def perf_freq(self) -> int: ...
    @property
    def cpu_speed_mhz(self) -> int: ...
    @property
    def start_filetime(self) -> int: ...
    @property
    def end_filetime(self) -> int:
        """Merged and relogged traces may hold records after this time."""
    @property
    def boot_filetime(self) -> int: ...
    @property
    def start_time(self) -> str:
        """ISO 8601 UTC."""
    @property
    def end_time(self) -> str: ...
    def to_dict(self) -> dict[str, object]: ...

@final
class Manifest:
    """An instrumentation manifest, parsed once (``.man`` or manifest XML, UTF-8
    or UTF-16) and usable by any number of readers and sessions."""

    def __new__(cls, path: str | os.PathLike[str]) -> Manifest: ...
    @property
    def path(self) -> str: ...
    @property
    def providers(self) -> list[tuple[str, str]]:
        """(GUID, name) of each provider it declares."""
    @property
    def event_count(self) -> int:
        """How many (provider, id, version) event schemas it declares."""
    @property
    def skipped(self) -> list[str]:
        """Events left out because their template could not be understood, with why."""
    def decode(
        self,
        provider: str,
        event_id: int,
        version: int,
        payload: bytes,
        *,
        pointer_size: int = 8,
    ) -> tuple[str | None, dict[str, Any], bool] | None:
        """Decodes a raw payload as this manifest's event ``(provider, event_id,
        version)``: ``(name, properties, complete)``, or ``None`` if it declares
        no such event."""

@final
class ArrowStream:
    """A recording's events table as Arrow record batches, through the Arrow
    PyCapsule interface; each ``__arrow_c_stream__`` call reads the file again."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __arrow_c_schema__(self) -> object: ...
    @property
    def columns(self) -> list[str]: ...

@final
class PropertyView:
    """An event's decoded properties as a read-only mapping (registered as a
    ``collections.abc.Mapping``); equal to the dict :attr:`EtwEvent.properties`."""

    def __getitem__(self, key: str, /) -> Any: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[Any]: ...
    def items(self) -> list[tuple[str, Any]]: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class ArrowTable:
    """One finished table (a schema's, with ``per_schema=True``), in memory,
    through the Arrow PyCapsule interface."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __arrow_c_schema__(self) -> object: ...
    @property
    def num_rows(self) -> int: ...

@final
class Converter:
    """Recordings written as ``parquet`` (a folder), ``arrow``, ``jsonl`` or
    ``csv``, a step at a time (``pyetwkit convert``)."""

    def __new__(
        cls,
        paths: Sequence[str | os.PathLike[str]],
        out: str | os.PathLike[str],
        format: str,
        manifests: Sequence[Manifest] = ...,
        filter_json: str | None = None,
        prescan_processes: bool = False,
        prescan_schemas: bool = False,
        per_schema: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Converter: ...
    def step(self, max_events: int) -> tuple[int, int, int, bool]:
        """Writes up to ``max_events`` more events: ``(bytes read, bytes in all,
        rows written, done)``."""
    def close(self) -> None:
        """Closes what was written so far (Parquet footers included); idempotent."""

@final
class EtlReader:
    """The Rust reader behind :class:`pyetwkit.EtlFile`; an iterator of events."""

    def __new__(
        cls,
        path: str | os.PathLike[str],
        manifests: Sequence[Manifest] = ...,
        prescan_processes: bool = False,
        filter_json: str | None = None,
        prescan_schemas: bool = False,
        rules: SigmaRuleSet | None = None,
        keep_unmatched: bool = False,
    ) -> EtlReader: ...
    def arrow_stream(
        self, columns: Sequence[str] | None = None, batch_size: int = 65_536
    ) -> ArrowStream:
        """The events table as Arrow record batches; the file is read again."""
    def arrow_tables(
        self, columns: Sequence[str] | None = None
    ) -> list[tuple[str, str, int, ArrowTable]]:
        """Every schema's typed table, ``(provider, event, version, table)``, in
        first-seen order; the file is read again."""
    @property
    def header(self) -> LogfileHeader: ...
    @property
    def path(self) -> str: ...
    @property
    def file_size(self) -> int: ...
    @property
    def bytes_read(self) -> int: ...
    @property
    def schema_stats(self) -> dict[str, int]:
        """Where the schemas came from: ``from_manifests``, ``from_metadata``,
        ``from_event_sources``, ``maps_from_metadata``, ``metadata_not_understood``."""
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __iter__(self) -> EtlReader: ...
    def __next__(self) -> EtwEvent: ...
    def next_batch(self, n: int) -> list[EtwEvent]:
        """Up to ``n`` events; an empty list at the end of the file."""

def count_records(path: str | os.PathLike[str]) -> tuple[int, int, list[tuple[str, int]]]:
    """Counts records in Rust alone: ``(records, buffers, [(header type, count)])``."""

def sample_etl_bytes() -> bytes:
    """The sample recording pyetwkit ships; see :func:`pyetwkit.sample_etl_path`."""

@final
class SessionStats:
    """A snapshot of a session's counters. Once a session has ended,
    ``received == delivered + dropped + filtered_out`` exactly."""

    @property
    def received(self) -> int:
        """Events the source produced."""
    @property
    def delivered(self) -> int:
        """Events handed to Python."""
    @property
    def filtered_out(self) -> int:
        """Events the filter rejected, in Rust."""
    @property
    def dropped(self) -> int:
        """Events pyetwkit discarded: the channel was full (overflow ``"drop"``),
        or they were unread when the session stopped."""
    @property
    def etw_events_lost(self) -> int | None:
        """Events ETW itself lost (live sessions); ``None`` for files."""
    @property
    def etw_buffers_lost(self) -> int | None:
        """Buffers ETW itself lost (live sessions); ``None`` for files."""
    @property
    def events_per_second(self) -> float:
        """Events received per second of elapsed time."""
    @property
    def elapsed(self) -> float:
        """Seconds since the session started, until it ended once it has."""
    def to_dict(self) -> dict[str, int | float | None]: ...

OverflowPolicy = Literal["block", "drop"]

@final
class Session:
    """A running pipeline: a source thread sending filtered batches through a
    bounded channel. Used through :class:`pyetwkit.EtwListener` and
    :class:`pyetwkit.EtwStreamer`."""

    @staticmethod
    def replay(
        path: str | os.PathLike[str],
        *,
        filter_json: str | None = None,
        speed: float | None = None,
        capacity: int = 64,
        batch_size: int = 1024,
        flush_interval: float = 0.01,
        overflow: OverflowPolicy | None = None,
        preload: bool = False,
        manifests: Sequence[Manifest] = ...,
        prescan_processes: bool = False,
        prescan_schemas: bool = False,
        rules: SigmaRuleSet | None = None,
        keep_unmatched: bool = False,
        selection: Selection | None = None,
    ) -> Session:
        """Replays an .etl file (opened and checked before this returns; with
        ``preload``, read whole into memory first)."""
    @staticmethod
    def live(
        enable_json: str,
        *,
        label: str = "session",
        on_conflict: Literal["error", "replace"] = "error",
        filter_json: str | None = None,
        capacity: int = 64,
        batch_size: int = 1024,
        flush_interval: float = 0.01,
        overflow: OverflowPolicy | None = None,
        preset: Literal["low_latency", "balanced", "high_throughput"] = "balanced",
        recording: str | os.PathLike[str] | None = None,
        simulated_overflow: OverflowPolicy = "block",
        at_end: Literal["stop", "wait"] = "stop",
        preload: bool = False,
        manifests: Sequence[Manifest] = ...,
        rules: SigmaRuleSet | None = None,
        keep_unmatched: bool = False,
        selection: Selection | None = None,
    ) -> Session:
        """A live session of the providers and kernel flags of ``enable_json``,
        started now: from ETW on Windows; with ``recording``, simulated ETW
        serves that recording by ETW's rules (any OS); else
        EtwUnsupportedPlatformError."""
    def next_events(self, max: int, timeout: float | None = None) -> list[EtwEvent] | None:
        """Up to ``max`` events: ``[]`` when ``timeout`` passes, ``None`` at the end.
        Waits without the GIL; raises ``KeyboardInterrupt`` on Ctrl-C."""
    def request(
        self, callback: Callable[[list[EtwEvent] | BaseException | None], object], max: int
    ) -> None:
        """Asynchronous: ``callback`` is called from a pump thread when events
        are ready, with a list, ``None`` at the end, or the exception to raise."""
    def stop(self) -> None:
        """Ends the stream; safe from any thread."""
    def close(self) -> float | None:
        """Stops and joins the threads; undelivered events count as dropped.
        Returns ``None``, or the seconds a source that ignored its stop was
        given before it was left behind."""
    def discard(self, n: int) -> None:
        """Gives back ``n`` delivered but unread events (they count as dropped)."""
    def stats(self) -> SessionStats: ...
    @property
    def overflow(self) -> OverflowPolicy: ...
    @property
    def running(self) -> bool: ...
    def replay_origin(self) -> tuple[float, int, float] | None:
        """``(unix_seconds, first_filetime, speed)`` where paced replay started."""

def check_filter(filter_json: str) -> None:
    """Compiles a filter spec; raises ``ValueError`` saying what is wrong."""

def installed_providers() -> list[tuple[str, str, int]]:
    """The providers registered on this machine (Windows): ``(name, guid,
    schema_source)``, schema source 0 for manifest, 1 for WMI (MOF)."""

def live_sessions_supported() -> bool:
    """Whether this build has live ETW sessions (Windows)."""

def kernel_classes() -> list[tuple[str, str]]:
    """The kernel MOF event classes as ``(name, GUID)``: Rust's one table."""

def kernel_flag_classes() -> list[tuple[int, str]]:
    """The NT Kernel Logger's flags and the class each enables: ``(flag, GUID)``."""

_FieldScalar = str | int | float | bool | None
_Matched = tuple[int, list[tuple[str, str]]]

@final
class SigmaRuleSet:
    """Compiled Sigma rules (the Rust side of :class:`pyetwkit.sigma.RuleSet`)."""

    @staticmethod
    def load(
        paths: Sequence[str | os.PathLike[str]],
        levels: list[str] | None = None,
        statuses: list[str] | None = None,
        tags: list[str] | None = None,
        placeholders: dict[str, list[str]] | None = None,
    ) -> SigmaRuleSet: ...
    @staticmethod
    def from_texts(
        texts: list[tuple[str, str]],
        levels: list[str] | None = None,
        statuses: list[str] | None = None,
        tags: list[str] | None = None,
        placeholders: dict[str, list[str]] | None = None,
    ) -> SigmaRuleSet: ...
    def __len__(self) -> int: ...
    @property
    def rejected(self) -> list[tuple[str, str]]: ...
    @property
    def filtered_out(self) -> int: ...
    @property
    def counts_by_logsource(self) -> dict[str, int]: ...
    def rule_infos(self) -> list[dict[str, Any]]: ...
    def correlation_infos(self) -> list[dict[str, Any]]: ...
    def match_fields(
        self,
        fields: dict[str, _FieldScalar],
        product: str | None = None,
        category: str | None = None,
        service: str | None = None,
    ) -> list[_Matched]: ...
    def match_event(self, event: EtwEvent) -> list[_Matched]: ...
    def benchmark(
        self,
        events: list[dict[str, _FieldScalar]],
        product: str | None = None,
        category: str | None = None,
        service: str | None = None,
        repeat: int = 3,
    ) -> dict[str, float]: ...
    def stream(self, max_groups: int = 100000, max_entries: int = 10000) -> SigmaStream: ...

@final
class Selection:
    """An automation's named selectors, evaluated in Rust on the source's thread:
    each ``(name, rules, filter_json)`` picks events by Sigma rules, a filter
    spec, or both (then both must hold). Events no selector picks stop there.
    ``replace`` swaps the selectors while a session runs, between two events."""

    def __new__(cls, selectors: list[tuple[str, SigmaRuleSet | None, str | None]]) -> Selection: ...
    def replace(self, selectors: list[tuple[str, SigmaRuleSet | None, str | None]]) -> int:
        """Puts ``selectors`` in force from the next event on; their generation."""
    @property
    def generation(self) -> int: ...
    @property
    def names(self) -> list[str]: ...
    def counts(self) -> tuple[int, int]:
        """(events seen, selector evaluations) so far."""

@final
class SigmaStream:
    """A rule set's matching over a stream, with correlation state."""

    def push(
        self,
        fields: dict[str, _FieldScalar],
        timestamp: float,
        product: str | None = None,
        category: str | None = None,
        service: str | None = None,
    ) -> list[tuple[str, int, list[tuple[str, str]], float | None, float | None]]: ...
    @property
    def stats(self) -> tuple[int, int, int]: ...

def sigma_map_event(
    event: EtwEvent,
) -> tuple[list[str], list[tuple[str, str | int]]] | None:
    """An ETW event under Sigma's names, or None when the mapping does not cover it."""

def sigma_mappings() -> list[tuple[str, list[str], str]]:
    """The ETW-to-Sigma mapping table: ``(source, categories, fields)`` per row."""
