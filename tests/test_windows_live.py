"""Live ETW sessions on a real Windows: what no simulation can show.

The user-mode tests register their own provider (advapi32's ``EventRegister``,
a fresh GUID each run) and write to it with ``EventWriteString`` and
``EventWrite``, so what the session must deliver is known exactly. The kernel
test starts child processes until it sees one's Process/Start event. Enabling a
provider reaches its process asynchronously, so each user-mode test first writes
probes until one arrives, and only then writes what it checks.

They need Windows, a build with live sessions and administrator rights; they
are skipped elsewhere. CI runs them on GitHub's Windows runners
(.github/workflows/windows.yml), which run as an administrator.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import pyetwkit
import pytest
from pyetwkit import EtwEvent, EtwListener, providers
from pyetwkit import filters as f


def _is_admin() -> bool:
    if sys.platform != "win32":
        return False
    return bool(ctypes.windll.shell32.IsUserAnAdmin())


def _live_sessions() -> bool:
    return sys.platform == "win32" and pyetwkit._core.live_sessions_supported()


pytestmark = [
    pytest.mark.windows_live,
    pytest.mark.skipif(
        not _live_sessions(),
        reason="needs live ETW sessions: Windows and a build of pyetwkit that has them",
    ),
    # Outside CI a non-administrator is skipped; in CI a missing right must fail loudly.
    pytest.mark.skipif(
        _live_sessions() and not _is_admin() and not os.environ.get("CI"),
        reason="live ETW sessions need an administrator",
    ),
]

# How long ETW may take to enable a provider, flush buffers and start a process.
DEADLINE = 30.0
# After the last expected event: how long to wait for events that must not come.
SETTLE = 1.5
# After a probe arrived, before the checked writes: a session sets some filters with a second
# EnableTraceEx2, and each reaches a provider's process asynchronously.
ENABLED = 1.0
# ETW's RT_LostEvent notices, which a session under losses delivers as events.
RT_LOST_EVENT = "6a399ae0-4bc6-4de9-870b-3657f8947e7e"


# advapi32's provider API, through ctypes (evntprov.h).


class GUID(ctypes.Structure):
    _fields_ = (
        ("Data1", ctypes.c_uint32),
        ("Data2", ctypes.c_uint16),
        ("Data3", ctypes.c_uint16),
        ("Data4", ctypes.c_ubyte * 8),
    )


class EVENT_DESCRIPTOR(ctypes.Structure):
    _fields_ = (
        ("Id", ctypes.c_uint16),
        ("Version", ctypes.c_uint8),
        ("Channel", ctypes.c_uint8),
        ("Level", ctypes.c_uint8),
        ("Opcode", ctypes.c_uint8),
        ("Task", ctypes.c_uint16),
        ("Keyword", ctypes.c_uint64),
    )


class EVENT_DATA_DESCRIPTOR(ctypes.Structure):
    _fields_ = (
        ("Ptr", ctypes.c_uint64),
        ("Size", ctypes.c_uint32),
        ("Reserved", ctypes.c_uint32),
    )


def _advapi32() -> Any:
    if sys.platform != "win32":
        raise RuntimeError("advapi32 exists on Windows only")
    api = ctypes.WinDLL("advapi32")
    api.EventRegister.argtypes = (
        ctypes.POINTER(GUID),
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint64),
    )
    api.EventRegister.restype = ctypes.c_ulong
    api.EventWriteString.argtypes = (
        ctypes.c_uint64,
        ctypes.c_ubyte,
        ctypes.c_uint64,
        ctypes.c_wchar_p,
    )
    api.EventWriteString.restype = ctypes.c_ulong
    api.EventWrite.argtypes = (
        ctypes.c_uint64,
        ctypes.POINTER(EVENT_DESCRIPTOR),
        ctypes.c_ulong,
        ctypes.POINTER(EVENT_DATA_DESCRIPTOR),
    )
    api.EventWrite.restype = ctypes.c_ulong
    api.EventUnregister.argtypes = (ctypes.c_uint64,)
    api.EventUnregister.restype = ctypes.c_ulong
    return api


class RegisteredProvider:
    """A manifest-free provider that this process registers and writes to."""

    def __init__(self) -> None:
        self.guid = uuid.uuid4()
        self._api = _advapi32()
        self._handle = ctypes.c_uint64(0)
        guid = GUID.from_buffer_copy(self.guid.bytes_le)  # GUID's in-memory layout
        status = self._api.EventRegister(ctypes.byref(guid), None, None, ctypes.byref(self._handle))
        if status != 0:
            raise OSError(f"EventRegister failed with Win32 error {status}")

    def enable(self, **options: Any) -> providers.Provider:
        """How a session enables this provider (options as for ``Provider``)."""
        return providers.Provider("pyetwkit-test", str(self.guid), **options)

    def write_string(self, text: str, level: int, keyword: int = 0) -> None:
        """EventWriteString: event id 0, the NUL-terminated UTF-16 text as payload.
        Its status is not checked: with no session listening, writing is a no-op."""
        self._api.EventWriteString(self._handle, level, keyword, text)

    def write(self, event_id: int, text: str, level: int = 4) -> None:
        """EventWrite with this event id and the UTF-16 text as the only field."""
        descriptor = EVENT_DESCRIPTOR(event_id, 0, 0, level, 0, 0, 0)
        payload = ctypes.create_unicode_buffer(text)
        data = EVENT_DATA_DESCRIPTOR(ctypes.addressof(payload), ctypes.sizeof(payload), 0)
        self._api.EventWrite(self._handle, ctypes.byref(descriptor), 1, ctypes.byref(data))

    def owns(self, event: EtwEvent) -> bool:
        return event.provider_id == str(self.guid)

    def close(self) -> None:
        if self._handle.value:
            self._api.EventUnregister(self._handle)
            self._handle = ctypes.c_uint64(0)

    def __enter__(self) -> RegisteredProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def text_of(event: EtwEvent) -> str:
    """The UTF-16 string an EventWriteString or our EventWrite carried."""
    return event.user_data.decode("utf-16-le", errors="replace").rstrip("\x00")


def collect(
    listener: EtwListener,
    until: Callable[[list[EtwEvent]], bool],
    write: Callable[[], None] = lambda: None,
    what: str = "the expected events",
) -> list[EtwEvent]:
    """Calls ``write`` and gathers events until ``until(events)`` holds; fails
    after DEADLINE seconds."""
    events: list[EtwEvent] = []
    deadline = time.monotonic() + DEADLINE
    while not until(events):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not arrive within {DEADLINE:.0f} s: {len(events)} events")
        write()
        events.extend(listener.events(timeout=0.25, max_events=10_000))
    return events


def settle(listener: EtwListener) -> list[EtwEvent]:
    """Whatever else arrives until SETTLE seconds pass without an event."""
    return list(listener.events(timeout=SETTLE, max_events=100_000))


def texts(events: Iterable[EtwEvent], provider: RegisteredProvider) -> list[str]:
    return [text_of(e) for e in events if provider.owns(e)]


# a. A user session on our own provider.


def test_a_user_session_receives_what_this_process_writes() -> None:
    count = 50
    with (
        RegisteredProvider() as provider,
        EtwListener([provider.enable(level=5)], label="user-test") as listener,
    ):
        probes = collect(
            listener,
            lambda events: any(provider.owns(e) for e in events),
            lambda: provider.write_string("probe", level=4),
            "a probe (the provider was never enabled)",
        )
        wanted = [f"pyetwkit live test {provider.guid} #{i}" for i in range(count)]
        for text in wanted:
            provider.write_string(text, level=4)
        events = probes + collect(
            listener,
            lambda events: set(wanted) <= set(texts(events, provider)),
            what=f"the {count} strings written",
        )
        events += settle(listener)
    stats = listener.stats()  # closed: final and exact
    ours = [e for e in events if provider.owns(e)]
    others = [e for e in events if not provider.owns(e) and e.provider_id != RT_LOST_EVENT]
    assert others == [], "only the enabled provider's events"
    got = [text_of(e) for e in ours if text_of(e) != "probe"]
    assert sorted(got) == sorted(wanted), "each string once, none lost or duplicated"
    for event in ours:
        assert event.pid == os.getpid()
        assert event.tid is not None
        assert event.event_id == 0  # EventWriteString's descriptor
        assert event.level == 4
        assert event.kind == "event"
        assert event.header_type is None
        assert event.file_offset is None
    assert (stats.received, stats.delivered, stats.dropped) == (len(events), len(events), 0)


def test_a_provider_enabled_at_level_2_gets_no_level_4_events() -> None:
    with (
        RegisteredProvider() as provider,
        EtwListener([provider.enable(level=2)], label="level-test") as listener,
    ):
        events = collect(
            listener,
            lambda events: any(provider.owns(e) for e in events),
            lambda: provider.write_string("probe", level=2),
            "a level-2 probe",
        )
        errors = [f"error #{i}" for i in range(20)]
        for i, text in enumerate(errors):
            provider.write_string(f"info #{i}", level=4)
            provider.write_string(text, level=2)
        events += collect(
            listener,
            lambda events: set(errors) <= set(texts(events, provider)),
            what="the level-2 strings",
        )
        events += settle(listener)
    got = texts(events, provider)
    assert set(errors) <= set(got)
    assert not [t for t in got if t.startswith("info")], "level-4 events passed a level-2 session"
    assert {e.level for e in events if provider.owns(e)} == {2}


def test_a_pid_filter_enables_the_provider_in_those_processes_only() -> None:
    # Some other process that lives through the test (it never writes to our GUIDs).
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        with (
            RegisteredProvider() as elsewhere,
            RegisteredProvider() as here,
            EtwListener(
                [elsewhere.enable(pids=(other.pid,)), here.enable(pids=(os.getpid(),))],
                label="pid-test",
            ) as listener,
        ):

            def write_both(tag: str) -> None:
                elsewhere.write_string(f"elsewhere {tag}", level=4)
                here.write_string(f"here {tag}", level=4)

            events = collect(
                listener,
                lambda events: any(here.owns(e) for e in events),
                lambda: write_both("probe"),
                "an event of the provider enabled for this process",
            )
            time.sleep(ENABLED)
            wanted = [f"here #{i}" for i in range(20)]
            for i in range(20):
                write_both(f"#{i}")
            events += collect(
                listener,
                lambda events: set(wanted) <= set(texts(events, here)),
                what="the strings of the provider enabled for this process",
            )
            events += settle(listener)
    finally:
        other.kill()
        other.wait(timeout=30)
    assert set(wanted) <= set(texts(events, here))
    assert all(e.pid == os.getpid() for e in events if here.owns(e))
    leaked = [t for t in texts(events, elsewhere) if t != "elsewhere probe"]
    assert leaked == [], "a provider enabled for another process wrote from this one"


def test_an_event_id_filter_passes_those_ids_or_all_but_them() -> None:
    with (
        RegisteredProvider() as only_2,
        RegisteredProvider() as all_but_2,
        EtwListener(
            [
                only_2.enable(event_ids=(2,)),
                all_but_2.enable(event_ids=(2,), exclude_event_ids=True),
            ],
            label="event-id-test",
        ) as listener,
    ):

        def write_all(tag: str) -> None:
            for provider in (only_2, all_but_2):
                provider.write(1, f"id 1 {tag}")
                provider.write(2, f"id 2 {tag}")

        def both_seen(events: list[EtwEvent]) -> bool:
            return any(only_2.owns(e) for e in events) and any(all_but_2.owns(e) for e in events)

        probes = collect(listener, both_seen, lambda: write_all("probe"), "both providers")
        time.sleep(ENABLED)
        for i in range(20):
            write_all(f"#{i}")
        events = collect(
            listener,
            lambda events: (
                {f"id 2 #{i}" for i in range(20)} <= set(texts(events, only_2))
                and {f"id 1 #{i}" for i in range(20)} <= set(texts(events, all_but_2))
            ),
            what="the events each filter passes",
        )
        events += settle(listener)
    checked = [e for e in events if not text_of(e).endswith(" probe")]
    assert {e.event_id for e in checked if only_2.owns(e)} == {2}
    assert {e.event_id for e in checked if all_but_2.owns(e)} == {1}
    ours = [e for e in probes + events if only_2.owns(e) or all_but_2.owns(e)]
    assert all(text_of(e).startswith(f"id {e.event_id} ") for e in ours), "payload and id agree"
    assert all(e.pid == os.getpid() for e in ours)


# b. A kernel session sees a process start.


def test_a_kernel_process_session_sees_a_child_start_with_its_command_line() -> None:
    marker = f"pyetwkit-{uuid.uuid4().hex[:12]}"
    started: list[int] = []

    def start_child() -> None:
        child = subprocess.Popen(
            ["cmd.exe", "/c", "echo", f"{marker}-{len(started)}"], stdout=subprocess.DEVNULL
        )
        started.append(child.pid)
        child.wait(timeout=30)

    def found(events: list[EtwEvent]) -> bool:
        return any(is_our_start(e) for e in events)

    def is_our_start(event: EtwEvent) -> bool:
        return event.name == "Process/Start" and marker in str(
            event.properties.get("CommandLine", "")
        )

    with EtwListener([providers.kernel_logger_process()], label="kernel-test") as listener:
        events = collect(listener, found, start_child, "the child's Process/Start")
    start = next(e for e in events if is_our_start(e))
    assert start.kind == "kernel"
    assert start.provider_name == "Process"
    assert start.opcode == 1
    properties = start.properties
    assert properties["ProcessId"] in started
    assert properties["ParentId"] == os.getpid()
    assert str(properties["ImageFileName"]).lower() == "cmd.exe"
    assert f"echo {marker}-" in properties["CommandLine"]


def test_a_kernel_session_with_sigma_rules_delivers_only_the_matching_start() -> None:
    from pyetwkit import sigma

    marker = f"pyetwkit-{uuid.uuid4().hex[:12]}"
    rules = sigma.RuleSet.from_yaml(
        f"""
title: The test's child
id: 7d0c1f2e-0000-4000-8000-0000000000aa
author: pyetwkit tests
logsource: {{product: windows, category: process_creation}}
detection:
    selection:
        CommandLine|contains: '{marker}'
    condition: selection
"""
    )
    started: list[int] = []

    def start_child() -> None:
        child = subprocess.Popen(["cmd.exe", "/c", "echo", marker], stdout=subprocess.DEVNULL)
        started.append(child.pid)
        child.wait(timeout=30)

    with EtwListener(
        [providers.kernel_logger_process()], label="kernel-sigma-test", rules=rules
    ) as listener:
        events = collect(listener, bool, start_child, "the child's Process/Start, matched")
        stats = listener.stats()
    # Only what the rule selected reached Python; the rest was filtered in Rust.
    assert events
    assert all(e.name == "Process/Start" for e in events)
    (match,) = events[0].matches
    assert match.title == "The test's child"
    assert match.author == "pyetwkit tests"
    assert marker in match.fields["CommandLine"]
    assert events[0].properties["ProcessId"] in started
    assert stats.filtered_out > 0


# c. Losses under a flood are all accounted for.


def test_a_flood_loses_events_and_the_stats_account_for_each() -> None:
    seconds = 2.0
    with (
        RegisteredProvider() as provider,
        EtwListener(
            [provider.enable(level=5)],
            label="flood-test",
            preset="low_latency",
            capacity=1,
            batch_size=1,
            overflow="drop",
            filter=f.max_level(3),  # passes the level-2 writer's events, not the level-4 one's
        ) as listener,
    ):
        probes = collect(
            listener,
            lambda events: bool(events),
            lambda: provider.write_string("probe", level=2),
            "a probe",
        )
        stop_at = time.monotonic() + seconds

        def flood(level: int) -> None:
            while time.monotonic() < stop_at:
                for _ in range(100):
                    provider.write_string("flood", level=level)

        writers = [threading.Thread(target=flood, args=(level,)) for level in (4, 2)]
        for writer in writers:
            writer.start()
        delivered: list[EtwEvent] = []
        while any(w.is_alive() for w in writers):  # a consumer far slower than the flood
            event = listener.next_event(timeout=0.1)
            if event is not None:
                delivered.append(event)
            time.sleep(0.05)
        for writer in writers:
            writer.join()
        delivered += settle(listener)
    stats = listener.stats()
    assert stats.received == stats.delivered + stats.dropped + stats.filtered_out, stats
    assert stats.delivered == len(probes) + len(delivered), "delivered: what Python read"
    assert stats.filtered_out > 0, "the level-4 writer's events reached the filter"
    assert all(e.level <= 3 for e in delivered)
    etw_losses = (stats.etw_events_lost, stats.etw_buffers_lost)
    for counter in etw_losses:
        assert isinstance(counter, int)
        assert counter >= 0
    assert stats.dropped + sum(c or 0 for c in etw_losses) > 0, stats


# d. The orphan sweep stops the session of a killed process.

ORPHAN_CHILD = textwrap.dedent(
    """
    import os, time, uuid
    from pyetwkit import EtwListener, providers

    listener = EtwListener([providers.Provider("orphan", str(uuid.uuid4()))], label="orphan-test")
    listener.start()
    print(os.getpid(), f"pyetwkit-orphan-test-{os.getpid()}", flush=True)
    time.sleep(300)
    """
)


def running_sessions() -> set[str]:
    """The names of the running pyetwkit sessions, as ``logman query -ets`` lists them."""
    listing = subprocess.run(
        ["logman", "query", "-ets"],
        capture_output=True,
        text=True,
        errors="replace",
        check=True,
        timeout=60,
    ).stdout
    return set(re.findall(r"pyetwkit-[A-Za-z0-9_.-]+", listing))


def terminate(pid: int) -> None:
    """Kills process ``pid`` and waits until it is gone (a venv's python.exe is a
    launcher whose child runs the script: the child owns the session)."""
    if sys.platform != "win32":
        raise RuntimeError("Windows only")
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = ctypes.c_void_p
    kernel32.TerminateProcess.argtypes = (ctypes.c_void_p, ctypes.c_uint)
    kernel32.WaitForSingleObject.argtypes = (ctypes.c_void_p, ctypes.c_uint32)
    kernel32.CloseHandle.argtypes = (ctypes.c_void_p,)
    process_terminate, synchronize = 0x0001, 0x00100000
    handle = kernel32.OpenProcess(process_terminate | synchronize, False, pid)
    if not handle:
        return  # already gone
    try:
        kernel32.TerminateProcess(handle, 1)
        assert kernel32.WaitForSingleObject(handle, 30_000) == 0, f"process {pid} did not end"
    finally:
        kernel32.CloseHandle(handle)


def test_the_session_of_a_killed_process_is_swept_by_the_next_start() -> None:
    command = [sys.executable, "-c", ORPHAN_CHILD]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        owner, orphan = 0, ""
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line, f"the child printed nothing (exit code {child.poll()})"
            pid, orphan = line.split()
            owner = int(pid)
            assert orphan in running_sessions(), "the child's session runs while it lives"
            terminate(owner)
            owner = 0  # gone: its pid may be reused
            assert orphan in running_sessions(), "ETW keeps a session whose owner died"

            own = f"pyetwkit-sweeper-{os.getpid()}"
            with (
                RegisteredProvider() as provider,
                EtwListener([provider.enable()], label="sweeper"),
            ):
                now = running_sessions()
                assert own in now
                assert orphan not in now, "starting a session sweeps the orphan"
            assert own not in running_sessions(), "closing a session stops it"
        finally:
            if owner:  # a failure before it was killed
                terminate(owner)
            child.kill()  # closing the Popen waits for it
            if orphan and orphan in running_sessions():  # leave no session behind on failure
                subprocess.run(["logman", "stop", orphan, "-ets"], capture_output=True, check=False)
