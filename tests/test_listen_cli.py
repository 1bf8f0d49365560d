"""``pyetwkit listen``: a live session from the command line, tested inside a
simulation of the sample recording."""

from __future__ import annotations

import json
import sys

import pyetwkit
import pytest
from pyetwkit.cli import main

APP = "6f2a1c7e-5b0d-4e8a-9a51-3c1d2b7e9044"  # the sample's TraceLogging provider


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    status = main(["listen", *args])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def expected(level: int) -> list[tuple[str, str | None]]:
    with pyetwkit.open_etl(pyetwkit.sample_etl_path()) as etl:
        return [
            (e.provider_id, e.name)
            for e in etl
            if (e.kind == "kernel" and e.provider_name in ("Process", "EventTrace"))
            or (e.provider_id == APP and e.level <= level)
        ]


def test_listen_serves_the_providers_and_kernel_flags(capsys: pytest.CaptureFixture[str]) -> None:
    sample = pyetwkit.sample_etl_path()
    status, lines, err = run(capsys, "-k", "process", "-p", f"{APP}:2", "--simulate", sample)
    assert status == 0
    got = [(d["provider_id"], d["name"]) for d in map(json.loads, lines)]
    assert got == expected(2)
    assert f"received={len(got)} delivered={len(got)}" in err, "stats at the end"


def test_listen_limits_and_filters(capsys: pytest.CaptureFixture[str]) -> None:
    sample = pyetwkit.sample_etl_path()
    status, lines, _ = run(capsys, "-k", "process", "--simulate", sample, "--max-events", "1")
    assert (status, len(lines)) == (0, 1)
    status, lines, _ = run(
        capsys, "-p", APP, "--simulate", sample, "--filter", "max_level(2)", "--format", "table"
    )
    assert status == 0
    assert len(lines) == 1 + 4, "a heading and the four failed requests"


def test_providers_are_found_by_their_registered_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = pyetwkit.sample_etl_path()
    # In a simulation, names resolve from the recording's providers (TDH's list live).
    status, lines, _ = run(capsys, "-p", "pyetwkit-sample-app:2", "--simulate", sample)
    assert status == 0
    by_guid = run(capsys, "-p", f"{APP}:2", "--simulate", sample)[1]
    assert lines == by_guid
    assert len(lines) == 4


def test_listen_refuses_what_it_cannot_do(capsys: pytest.CaptureFixture[str]) -> None:
    sample = pyetwkit.sample_etl_path()
    status, _, err = run(capsys, "-p", "No-Such-Provider", "--simulate", sample)
    assert status == 1
    assert "No-Such-Provider" in err
    with pytest.raises(SystemExit) as bad:
        main(["listen", "-p", ":4"])
    assert bad.value.code == 2
    with pytest.raises(SystemExit, match="at least one"):
        main(["listen"])
    if sys.platform != "win32":
        status, _, err = run(capsys, "-k", "process")
        assert status == 1
        assert "simulated_etw" in err
