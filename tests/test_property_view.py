"""``EtwEvent.property_view``: the lazy, read-only mapping over an event's
properties equals the ``properties`` dict on every corpus event, and behaves as
a read-only Mapping (issue 13: the dict against the lazy mapping, measured in
benches/bench_properties.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyetwkit
import pytest
from conftest import recordings


@pytest.mark.parametrize("path", recordings(), ids=lambda p: Path(p).name)
def test_the_view_equals_the_dict_on_every_event(path: str) -> None:
    for event in pyetwkit.open_etl(path):
        props, view = event.properties, event.property_view
        assert view == props
        assert len(view) == len(props)
        assert list(view) == list(props)
        assert view.keys() == list(props)
        assert view.items() == list(props.items())
        for key, value in props.items():
            assert key in view
            assert view[key] == value
            assert view.get(key) == value


def test_a_read_only_mapping() -> None:
    event = next(e for e in pyetwkit.open_etl(pyetwkit.sample_etl_path()) if e.properties)
    view = event.property_view
    assert isinstance(view, Mapping)
    assert isinstance(view, pyetwkit.PropertyView)
    assert dict(view) == event.properties
    assert repr(view) == repr(event.properties)
    with pytest.raises(KeyError, match="nope"):
        view["nope"]
    assert view.get("nope") is None
    assert view.get("nope", 7) == 7
    assert 42 not in view
    assert view != {"other": 1}
    with pytest.raises(TypeError):
        view["x"] = 1  # type: ignore[index]
    empty = next(e for e in pyetwkit.open_etl(pyetwkit.sample_etl_path()) if not e.properties)
    assert len(empty.property_view) == 0
    assert not empty.property_view
