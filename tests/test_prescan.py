"""Schemas that arrive mid-file: with ``prescan_schemas``, events decode even
when the file embeds their schema after them."""

from __future__ import annotations

import pyetwkit
import pytest
from conftest import corpus_dir, have_corpus

pytestmark = pytest.mark.skipif(not have_corpus(), reason="no .etl corpus (PYETWKIT_TEST_DATA)")

LATE = "etwanalyzer_TraceLoggingTester.etl"  # CLR rundown events before their metadata


def decoded(path: str, **options: bool) -> list[bool | None]:
    with pyetwkit.open_etl(path, **options) as etl:
        return [e.properties_complete for e in etl]


def test_a_schema_prescan_decodes_events_before_their_schema() -> None:
    path = str(corpus_dir() / LATE)
    plain = decoded(path)
    prescanned = decoded(path, prescan_schemas=True)
    assert len(plain) == len(prescanned)
    undecoded_before = plain.count(None)
    undecoded_after = prescanned.count(None)
    assert undecoded_before - undecoded_after > 30_000, (undecoded_before, undecoded_after)
    # What decoded without the prescan decodes alike with it.
    assert all(a == b for a, b in zip(plain, prescanned, strict=True) if a is not None)
    with pyetwkit.open_etl(path, prescan_schemas=True) as etl:
        for event in etl:
            if event.provider_name == "Microsoft-Windows-DotNETRuntimeRundown" and event.properties:
                break
        else:
            pytest.fail("no decoded rundown event")


def test_replay_takes_the_prescan_too() -> None:
    path = str(corpus_dir() / LATE)
    with pyetwkit.open_etl(path, prescan_schemas=True) as etl:
        expected = [e.properties_complete for e in etl]
    with pyetwkit.EtwListener(etl_file=path, prescan_schemas=True) as listener:
        assert [e.properties_complete for e in listener] == expected
    with pytest.raises(ValueError, match="prescan_schemas"):
        pyetwkit.EtwListener([pyetwkit.providers.kernel_logger_process()], prescan_schemas=True)
