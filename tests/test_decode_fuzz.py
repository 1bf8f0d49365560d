"""Decoders on damaged payloads and schemas: hypothesis mutates bytes inside real
events' payloads (and TraceLogging schemas) and everything is decoded. Never a
crash or hang; a damaged event is marked partly decoded or decodes what it can."""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path

import pyetwkit
from conftest import corpus_dir, have_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@cache
def targets() -> tuple[tuple[bytes, tuple[tuple[int, int], ...]], ...]:
    """Files, with the (start, length) of byte regions that decoders read."""
    files = [Path(pyetwkit.sample_etl_path())]
    if have_corpus():
        files += [
            corpus_dir() / n
            for n in (
                "perfview_primitive-types.etl",
                "airbus_AMSITrace.etl",
                "airbus_ShutdownPerfDiagLogger.etl",
            )
        ]
    out = []
    for path in files:
        data = path.read_bytes()
        regions = []
        for e in pyetwkit.open_etl(path):
            if not (e.properties or e.kind == "event"):
                continue
            # Uncompressed files: the payload is in the file as is, after the record's start.
            at = data.find(e.user_data, e.file_offset) if e.user_data else -1
            if at >= 0:
                regions.append((at, len(e.user_data)))
            for kind, item in e.extended_data:
                if kind == 11:  # the TraceLogging schema
                    at = data.find(item, e.file_offset)
                    if at >= 0:
                        regions.append((at, len(item)))
            if len(regions) > 400:
                break
        out.append((data, tuple(regions)))
    return tuple(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_payloads_and_schemas_decode_safely(data: st.DataObject) -> None:
    # Draw indices, not the files themselves: a failure report stays readable.
    original, regions = targets()[data.draw(st.integers(0, len(targets()) - 1))]
    start, length = regions[data.draw(st.integers(0, len(regions) - 1))]
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        mutated[start + data.draw(st.integers(0, length - 1))] = data.draw(st.integers(0, 255))
    fd, name = tempfile.mkstemp(suffix=".etl")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(mutated)
        try:
            for event in pyetwkit.open_etl(name):
                if abs(event.file_offset - start) > 0x10000:
                    continue  # undamaged: decoding it again proves nothing
                props = event.properties
                assert event.properties_complete in (True, False, None)
                if event.properties_complete is None:
                    assert props == {}
                event.to_json()
        except pyetwkit.EtlFormatError:
            pass  # a length field was hit: framing refuses it, as it should
    finally:
        os.unlink(name)
