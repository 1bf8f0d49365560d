"""Where an automation's events come from: the file's live sources (providers,
kernel kinds, preset) or a recording, as an :class:`~pyetwkit.EtwStreamer`."""

from __future__ import annotations

import argparse
from typing import Any

from pyetwkit import providers as p
from pyetwkit._core import Selection
from pyetwkit._listen import KERNEL_FLAGS, parse_provider
from pyetwkit._session import OverflowPolicy
from pyetwkit.automation.config import Automation
from pyetwkit.streamer import EtwStreamer

# A provider table's keys, as Provider.with_options takes them.
PROVIDER_OPTIONS = ("level", "keywords_any", "keywords_all", "event_ids", "pids")


def provider_object(raw: Any) -> p.Provider:
    """A ``providers`` entry: ``"NAME-OR-GUID[:LEVEL[:ANY[:ALL]]]"`` (as
    ``pyetwkit listen -p``) or a table ``{name, level, keywords_any, ...}``."""
    if isinstance(raw, str):
        try:
            return parse_provider(raw)
        except argparse.ArgumentTypeError as e:
            raise ValueError(str(e)) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ValueError("a provider table needs a name (a provider's name or GUID)")
    unknown = set(raw) - {"name", *PROVIDER_OPTIONS}
    if unknown:
        raise ValueError(
            f"unknown key {sorted(unknown)[0]!r} (known: name, {', '.join(PROVIDER_OPTIONS)})"
        )
    options = {k: raw[k] for k in PROVIDER_OPTIONS if k in raw}
    return provider_object(raw["name"]).with_options(**options)


def streamer(
    automation: Automation,
    selection: Selection,
    *,
    etl: str | None = None,
    speed: float | None = None,
    manifests: tuple[str, ...] = (),
    overflow: OverflowPolicy | None = None,
) -> EtwStreamer:
    """The automation's event stream: ``etl`` (from the command line) wins over
    the file's sources. ``overflow="drop"`` makes a replay behave as a live
    session does when Python falls behind: events dropped and counted."""
    session = automation.session
    manifests = (*session.manifests, *manifests)
    recording = etl or session.etl
    if recording is not None:
        return EtwStreamer(
            etl_file=recording,
            replay_speed=speed if etl is not None else session.speed,
            manifests=list(manifests),
            prescan_processes=session.prescan_processes,
            selection=selection,
            overflow=overflow,
        )
    chosen: list[p.Provider | p.KernelProvider] = [provider_object(x) for x in session.providers]
    chosen += [KERNEL_FLAGS[k]() for k in dict.fromkeys(session.kernel)]
    if not chosen:
        raise ValueError(
            f"{automation.path}: the file has no source: give [session] etl, providers or "
            "kernel, or run it over a recording with --etl"
        )
    return EtwStreamer(
        chosen,
        preset=session.preset,  # type: ignore[arg-type]
        manifests=list(manifests),
        label="automation",
        selection=selection,
        overflow=overflow,
    )
