"""Ready-made ETW providers: the right GUIDs, keywords and what each is for.

User-mode (manifest) providers are :class:`Provider` objects; the NT Kernel
Logger is enabled by flags, as :class:`KernelProvider` objects::

    from pyetwkit import providers

    with pyetwkit.EtwListener([providers.kernel_process(), providers.dns_client()]) as listener:
        ...

Live sessions need Windows and administrator rights (Threat-Intelligence more:
see :func:`threat_intelligence`). :func:`catalog` lists them all; so does
``pyetwkit providers``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyetwkit._core import kernel_classes, kernel_flag_classes

__all__ = [
    "DnsClientKeywords",
    "KernelFileKeywords",
    "KernelFlags",
    "KernelNetworkKeywords",
    "KernelProcessKeywords",
    "KernelProvider",
    "KernelRegistryKeywords",
    "Level",
    "PowerShellKeywords",
    "Provider",
    "by_name",
    "catalog",
    "dns_client",
    "kernel_file",
    "kernel_logger",
    "kernel_logger_disk_io",
    "kernel_logger_file_io",
    "kernel_logger_image",
    "kernel_logger_network",
    "kernel_logger_process",
    "kernel_logger_registry",
    "kernel_logger_thread",
    "kernel_network",
    "kernel_process",
    "kernel_registry",
    "powershell",
    "tcpip",
    "threat_intelligence",
    "winsock_afd",
]

ADMIN = "administrator (or a member of Performance Log Users)"


class Level(enum.IntEnum):
    """ETW levels: a provider sends events at this level and more severe."""

    CRITICAL = 1
    ERROR = 2
    WARNING = 3
    INFORMATION = 4
    VERBOSE = 5


@dataclass(frozen=True)
class Provider:
    """A user-mode provider to enable in a live session.

    ``keywords_any`` 0 means every keyword (ETW's convention). An empty ``guid``
    means "resolve ``name``" when the session starts (see :func:`by_name`).

    Filters applied inside ETW, before events reach the session's buffers:
    ``event_ids`` (at most 64; with ``exclude_event_ids``, all but these) and
    ``pids`` (at most 8 processes). Extended data ETW adds to each event:
    ``stack_trace`` (``event.stack``), ``sid`` (``event.sid``) and
    ``session_id`` (``event.session_id``).
    """

    name: str
    guid: str
    level: int = Level.VERBOSE
    keywords_any: int = 0
    keywords_all: int = 0
    description: str = ""
    privileges: str = ADMIN
    event_ids: tuple[int, ...] = ()
    exclude_event_ids: bool = False
    pids: tuple[int, ...] = ()
    stack_trace: bool = False
    sid: bool = False
    session_id: bool = False

    def __post_init__(self) -> None:
        # Tuples keep the dataclass hashable whatever sequence was given.
        object.__setattr__(self, "event_ids", tuple(int(i) for i in self.event_ids))
        object.__setattr__(self, "pids", tuple(int(p) for p in self.pids))
        if not self.guid and not self.name:
            raise ValueError("a Provider needs a GUID or a name")

    def with_options(
        self,
        *,
        level: int | None = None,
        keywords_any: int | None = None,
        keywords_all: int | None = None,
        event_ids: Iterable[int] | None = None,
        exclude_event_ids: bool | None = None,
        pids: Iterable[int] | None = None,
        stack_trace: bool | None = None,
        sid: bool | None = None,
        session_id: bool | None = None,
    ) -> Provider:
        """A copy with other options; those not given are kept."""
        given = {
            "level": level,
            "keywords_any": keywords_any,
            "keywords_all": keywords_all,
            "event_ids": None if event_ids is None else tuple(event_ids),
            "exclude_event_ids": exclude_event_ids,
            "pids": None if pids is None else tuple(pids),
            "stack_trace": stack_trace,
            "sid": sid,
            "session_id": session_id,
        }
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        return dataclasses.replace(self, **changes)


def by_name(name: str, **options: Any) -> Provider:
    """A provider by its registered name, e.g. ``"Microsoft-Windows-DNS-Client"``.

    The GUID is resolved when the session starts: on Windows from TDH's list of
    registered providers (``TdhEnumerateProviders``; ``pyetwkit providers
    --installed`` prints it), in :func:`pyetwkit.testing.simulated_etw` from the
    recording's providers. An unknown name raises ``ValueError`` then.
    ``options`` are :class:`Provider`'s (``level``, ``keywords_any``, ...).
    """
    return Provider(name, "", **options)


class KernelFlags(enum.IntFlag):
    """EVENT_TRACE_FLAG_* values of the NT Kernel Logger."""

    PROCESS = 0x00000001
    THREAD = 0x00000002
    IMAGE_LOAD = 0x00000004
    PROCESS_COUNTERS = 0x00000008
    CSWITCH = 0x00000010
    DPC = 0x00000020
    INTERRUPT = 0x00000040
    SYSTEMCALL = 0x00000080
    DISK_IO = 0x00000100
    DISK_FILE_IO = 0x00000200
    DISK_IO_INIT = 0x00000400
    DISPATCHER = 0x00000800
    MEMORY_PAGE_FAULTS = 0x00001000
    MEMORY_HARD_FAULTS = 0x00002000
    VIRTUAL_ALLOC = 0x00004000
    NETWORK_TCPIP = 0x00010000
    REGISTRY = 0x00020000
    ALPC = 0x00100000
    SPLIT_IO = 0x00200000
    DRIVER = 0x00800000
    PROFILE = 0x01000000
    FILE_IO = 0x02000000
    FILE_IO_INIT = 0x04000000


@dataclass(frozen=True)
class KernelProvider:
    """Kernel events enabled through the NT Kernel Logger's flags.

    ``classes`` are the MOF event class GUIDs the events arrive with: the
    ``provider_id`` of the events, usable in :func:`pyetwkit.filters.provider`.
    """

    name: str
    flags: KernelFlags
    classes: tuple[str, ...]
    description: str = ""
    privileges: str = "administrator (the kernel logger is a system-wide session)"
    #: Use the classic, system-wide "NT Kernel Logger" instead of a private
    #: system-logger session. Only one exists per machine, so this can stop (or
    #: be stopped by) another tool; some rundown events come only there.
    nt_kernel_logger: bool = False

    def __or__(self, other: KernelProvider) -> KernelProvider:
        return KernelProvider(
            name=f"{self.name} + {other.name}",
            flags=self.flags | other.flags,
            classes=tuple(dict.fromkeys(self.classes + other.classes)),
            description=f"{self.description} {other.description}".strip(),
            nt_kernel_logger=self.nt_kernel_logger or other.nt_kernel_logger,
        )


# MOF event class GUIDs, from the one table in Rust (kernel.rs).
_CLASS_GUID = dict(kernel_classes())
_PROCESS = _CLASS_GUID["Process"]
_THREAD = _CLASS_GUID["Thread"]
_IMAGE = _CLASS_GUID["Image"]
_DISK_IO = _CLASS_GUID["DiskIo"]
_FILE_IO = _CLASS_GUID["FileIo"]
_REGISTRY = _CLASS_GUID["Registry"]
_TCP_IP = _CLASS_GUID["TcpIp"]
_UDP_IP = _CLASS_GUID["UdpIp"]


def kernel_logger(flags: KernelFlags, *, nt_kernel_logger: bool = False) -> KernelProvider:
    """Kernel events of any combination of flags, in a private system-logger
    session (or, with ``nt_kernel_logger=True``, the classic NT Kernel Logger)."""
    classes: list[str] = []
    for flag, cls in kernel_flag_classes():  # Rust's table: flag → the class it enables
        if flags & flag and cls not in classes:
            classes.append(cls)
    return KernelProvider(
        f"NT Kernel Logger ({flags!r})", flags, tuple(classes), nt_kernel_logger=nt_kernel_logger
    )


def kernel_logger_process() -> KernelProvider:
    """Process start and end, with image name, command line, parent and user SID
    (class Process); rundown of running processes at the start and end."""
    return KernelProvider(
        "kernel: process",
        KernelFlags.PROCESS,
        (_PROCESS,),
        "Process Start/End/DCStart/DCEnd with image, command line, parent pid, SID.",
    )


def kernel_logger_thread() -> KernelProvider:
    """Thread start and end (class Thread)."""
    return KernelProvider(
        "kernel: thread", KernelFlags.THREAD, (_THREAD,), "Thread Start/End and rundown."
    )


def kernel_logger_image() -> KernelProvider:
    """Image (DLL and EXE) loads and unloads (class Image)."""
    return KernelProvider(
        "kernel: image",
        KernelFlags.IMAGE_LOAD,
        (_IMAGE,),
        "Image Load/Unload with base address, size and file name.",
    )


def kernel_logger_file_io() -> KernelProvider:
    """File create, read, write, delete, rename and name events (class FileIo)."""
    return KernelProvider(
        "kernel: file I/O",
        KernelFlags.FILE_IO | KernelFlags.FILE_IO_INIT | KernelFlags.DISK_FILE_IO,
        (_FILE_IO,),
        "FileIo Create/Read/Write/Delete/Rename/Name; high volume.",
    )


def kernel_logger_disk_io() -> KernelProvider:
    """Disk reads and writes with sizes and times (class DiskIo)."""
    return KernelProvider(
        "kernel: disk I/O",
        KernelFlags.DISK_IO | KernelFlags.DISK_IO_INIT,
        (_DISK_IO,),
        "DiskIo Read/Write with disk, offset, size and response time.",
    )


def kernel_logger_registry() -> KernelProvider:
    """Registry key and value operations (class Registry)."""
    return KernelProvider(
        "kernel: registry",
        KernelFlags.REGISTRY,
        (_REGISTRY,),
        "Registry Create/Open/Delete/Query/SetValue/... with key names; high volume.",
    )


def kernel_logger_network() -> KernelProvider:
    """TCP and UDP sends, receives and connections, IPv4 and IPv6 (classes TcpIp, UdpIp)."""
    return KernelProvider(
        "kernel: network",
        KernelFlags.NETWORK_TCPIP,
        (_TCP_IP, _UDP_IP),
        "TcpIp/UdpIp Send/Recv/Connect/Accept/Disconnect with addresses, ports, sizes.",
    )


class KernelProcessKeywords(enum.IntFlag):
    """Keywords of Microsoft-Windows-Kernel-Process (from its manifest)."""

    PROCESS = 0x10
    THREAD = 0x20
    IMAGE = 0x40
    CPU_PRIORITY = 0x80
    OTHER_PRIORITY = 0x100
    PROCESS_FREEZE = 0x200
    JOB = 0x400
    ENABLE_PROCESS_TRACING_CALLBACKS = 0x800
    JOB_IO = 0x1000
    WORK_ON_BEHALF = 0x2000
    JOB_SILO = 0x4000


class KernelFileKeywords(enum.IntFlag):
    """Keywords of Microsoft-Windows-Kernel-File (from its manifest)."""

    FILENAME = 0x10
    FILEIO = 0x20
    OP_END = 0x40
    CREATE = 0x80
    READ = 0x100
    WRITE = 0x200
    DELETE_PATH = 0x400
    RENAME_SETLINK_PATH = 0x800
    CREATE_NEW_FILE = 0x1000


class KernelRegistryKeywords(enum.IntFlag):
    """Keywords of Microsoft-Windows-Kernel-Registry (from its manifest)."""

    CLOSE_KEY = 0x1
    QUERY_SECURITY_KEY = 0x2
    SET_SECURITY_KEY = 0x4
    ENUMERATE_VALUE_KEY = 0x10
    QUERY_MULTIPLE_VALUE_KEY = 0x20
    SET_INFORMATION_KEY = 0x40
    FLUSH_KEY = 0x80
    SET_VALUE_KEY = 0x100
    DELETE_VALUE_KEY = 0x200
    QUERY_VALUE_KEY = 0x400
    ENUMERATE_KEY = 0x800
    CREATE_KEY = 0x1000
    OPEN_KEY = 0x2000
    DELETE_KEY = 0x4000
    QUERY_KEY = 0x8000


class KernelNetworkKeywords(enum.IntFlag):
    """Keywords of Microsoft-Windows-Kernel-Network (from its manifest)."""

    IPV4 = 0x10
    IPV6 = 0x20


class DnsClientKeywords(enum.IntFlag):
    """Some keywords of Microsoft-Windows-DNS-Client (from its manifest)."""

    GENERIC_EVENT = 0x100
    REGISTRATION_EVENT = 0x80000000
    SEND_PATH = 0x100000000
    RECEIVE_PATH = 0x200000000
    CONFIGURATION = 0x4000000000
    GLOBAL = 0x8000000000


class PowerShellKeywords(enum.IntFlag):
    """Keywords of Microsoft-Windows-PowerShell (from its manifest)."""

    RUNSPACE = 0x1
    PIPELINE = 0x2
    PROTOCOL = 0x4
    TRANSPORT = 0x8
    HOST = 0x10
    CMDLETS = 0x20
    SERIALIZER = 0x40
    SESSION = 0x80
    PLUGIN = 0x100
    PS_WORKFLOW = 0x200


def kernel_process(
    keywords: int = KernelProcessKeywords.PROCESS
    | KernelProcessKeywords.THREAD
    | KernelProcessKeywords.IMAGE,
    level: int = Level.INFORMATION,
) -> Provider:
    """Microsoft-Windows-Kernel-Process: process, thread and image events as a
    manifest provider (no kernel logger needed). Default: process, thread, image."""
    return Provider(
        "Microsoft-Windows-Kernel-Process",
        "22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716",
        level,
        int(keywords),
        0,
        "Process start/stop with image and command line, thread start/stop, image load/unload.",
    )


def kernel_file(
    keywords: int = KernelFileKeywords.FILENAME
    | KernelFileKeywords.CREATE
    | KernelFileKeywords.DELETE_PATH
    | KernelFileKeywords.RENAME_SETLINK_PATH
    | KernelFileKeywords.CREATE_NEW_FILE,
    level: int = Level.INFORMATION,
) -> Provider:
    """Microsoft-Windows-Kernel-File. Default: names, create, delete and rename
    (reads and writes are very frequent: add READ and WRITE if you need them)."""
    return Provider(
        "Microsoft-Windows-Kernel-File",
        "edd08927-9cc4-4e65-b970-c2560fb5c289",
        level,
        int(keywords),
        0,
        "File create, delete, rename (and optionally read/write) by path.",
    )


def kernel_registry(keywords: int = 0, level: int = Level.INFORMATION) -> Provider:
    """Microsoft-Windows-Kernel-Registry. Default: every operation (0)."""
    return Provider(
        "Microsoft-Windows-Kernel-Registry",
        "70eb4f03-c1de-4f73-a051-33d13d5413bd",
        level,
        int(keywords),
        0,
        "Registry key and value operations with key paths.",
    )


def kernel_network(
    keywords: int = KernelNetworkKeywords.IPV4 | KernelNetworkKeywords.IPV6,
    level: int = Level.INFORMATION,
) -> Provider:
    """Microsoft-Windows-Kernel-Network: TCP/UDP send, receive, connect, IPv4 and IPv6."""
    return Provider(
        "Microsoft-Windows-Kernel-Network",
        "7dd42a49-5329-4832-8dfd-43d979153a88",
        level,
        int(keywords),
        0,
        "TCP and UDP traffic per process with addresses and ports.",
    )


def dns_client(keywords: int = 0, level: int = Level.INFORMATION) -> Provider:
    """Microsoft-Windows-DNS-Client: DNS queries and their results, per process."""
    return Provider(
        "Microsoft-Windows-DNS-Client",
        "1c95126e-7eea-49a9-a3fe-a378b03ddb4d",
        level,
        int(keywords),
        0,
        "DNS queries (names, types) and responses, per process.",
    )


def tcpip(keywords: int = 0, level: int = Level.INFORMATION) -> Provider:
    """Microsoft-Windows-TCPIP: the TCP/IP stack's own events (connections, state
    changes, retransmissions). High volume at VERBOSE."""
    return Provider(
        "Microsoft-Windows-TCPIP",
        "2f07e2ee-15db-40f1-90ef-9d7ba282188a",
        level,
        int(keywords),
        0,
        "TCP/IP stack: connection setup and teardown, state, errors.",
    )


def winsock_afd(keywords: int = 0, level: int = Level.INFORMATION) -> Provider:
    """Microsoft-Windows-Winsock-AFD: socket-level activity (create, bind, connect,
    send, receive) per process, below any application library."""
    return Provider(
        "Microsoft-Windows-Winsock-AFD",
        "e53c6823-7bb8-44bb-90dc-3f86090d48a6",
        level,
        int(keywords),
        0,
        "Socket operations per process (AFD driver).",
    )


def powershell(
    keywords: int = PowerShellKeywords.RUNSPACE | PowerShellKeywords.PIPELINE,
    level: int = Level.VERBOSE,
) -> Provider:
    """Microsoft-Windows-PowerShell: script blocks, pipelines and commands run by
    Windows PowerShell (script block logging appears at VERBOSE)."""
    return Provider(
        "Microsoft-Windows-PowerShell",
        "a0c1853b-5c40-4b15-8766-3cf1c58f985a",
        level,
        int(keywords),
        0,
        "PowerShell runspaces, pipelines, commands and script blocks.",
    )


def threat_intelligence(keywords: int = 0, level: int = Level.VERBOSE) -> Provider:
    """Microsoft-Windows-Threat-Intelligence: memory allocation, protection changes,
    APC queueing, thread context and process memory reads/writes across processes.

    Privileges: only a process running as Antimalware Protected Process Light
    (PPL, with an ELAM-certified antimalware signature) can enable it. Administrator
    rights and SeDebugPrivilege are **not** enough: elsewhere enabling it fails
    with access denied.
    """
    return Provider(
        "Microsoft-Windows-Threat-Intelligence",
        "f4e1897c-bb5d-5668-f1d8-040f4d8dd344",
        level,
        int(keywords),
        0,
        "Cross-process memory operations, APC injection, protection changes (EDR telemetry).",
        "Antimalware Protected Process Light (PPL) only; administrator is not enough",
    )


def catalog() -> list[Provider | KernelProvider]:
    """Every ready-made provider, with default options."""
    return [
        kernel_logger_process(),
        kernel_logger_thread(),
        kernel_logger_image(),
        kernel_logger_file_io(),
        kernel_logger_disk_io(),
        kernel_logger_registry(),
        kernel_logger_network(),
        kernel_process(),
        kernel_file(),
        kernel_registry(),
        kernel_network(),
        dns_client(),
        tcpip(),
        winsock_afd(),
        powershell(),
        threat_intelligence(),
    ]
