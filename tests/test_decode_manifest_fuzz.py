"""Manifests that hypothesis writes: random templates (every in-type, counts and
lengths naming other fields or nothing, nested structs, maps) decoding random
payloads, and real manifests damaged at random. A manifest either parses or
raises ManifestError; decoding never crashes, hangs or allocates without bound."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pyetwkit
import pytest
from conftest import shared_dir
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

GUID = "11111111-2222-3333-4444-555555555555"
IN_TYPES = [
    "win:UnicodeString",
    "win:AnsiString",
    "win:Int8",
    "win:UInt8",
    "win:Int16",
    "win:UInt16",
    "win:Int32",
    "win:UInt32",
    "win:Int64",
    "win:UInt64",
    "win:Float",
    "win:Double",
    "win:Boolean",
    "win:Binary",
    "win:GUID",
    "win:Pointer",
    "win:FILETIME",
    "win:SYSTEMTIME",
    "win:SID",
    "win:HexInt32",
    "win:HexInt64",
]
OUT_TYPES = [
    None,
    "xs:string",
    "xs:boolean",
    "win:IPv4",
    "win:IPv6",
    "win:Port",
    "win:SocketAddress",
    "win:Utf8",
]
MAPS = """<maps>
 <valueMap name="V">
  <map value="1" message="$(string.one)"/><map value="0x2" message="Two"/>
 </valueMap>
 <bitMap name="B">
  <map value="0x1" message="$(string.one)"/><map value="0x4" message="Four"/>
 </bitMap>
</maps>"""
STRINGS = '<stringTable><string id="one" value="One"/></stringTable>'


@st.composite
def fields(draw: st.DrawFn, depth: int = 0, prefix: str = "f") -> str:
    """A template's <data>/<struct> elements; names are unique and reusable as counts."""
    out = []
    for i in range(draw(st.integers(1, 5))):
        name = f"{prefix}{i}"
        earlier = [f"{prefix}{j}" for j in range(i)]
        # Mostly usable templates; sometimes a reference to nothing, to be refused.
        amount = st.one_of(
            st.none(),
            st.none(),
            st.none(),
            st.integers(0, 8).map(str),
            st.sampled_from([st.integers(0, 70_000).map(str), st.none()]).flatmap(lambda s: s),
            st.sampled_from([*earlier, *earlier, "missing"]) if earlier else st.none(),
        )
        attrs = {"name": name}
        for attr in ("count", "length"):
            value = draw(amount)
            if value is not None:
                attrs[attr] = value
        if depth < 3 and draw(st.integers(0, 6)) == 0:
            inner = draw(fields(depth + 1, f"{name}_"))
            text = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
            out.append(f"<struct {text}>{inner}</struct>")
            continue
        unknown = draw(st.integers(0, 60)) == 0
        attrs["inType"] = "win:NoSuchType" if unknown else draw(st.sampled_from(IN_TYPES))
        out_type = draw(st.sampled_from(OUT_TYPES))
        if out_type:
            attrs["outType"] = out_type
        map_name = draw(st.sampled_from([None] * 6 + ["V", "B"]))
        if draw(st.integers(0, 40)) == 0:
            map_name = "Nope"
        if map_name:
            attrs["map"] = map_name
        out.append("<data " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items()) + "/>")
    return "".join(out)


def manifest_xml(template: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<instrumentationManifest xmlns="http://schemas.microsoft.com/win/2004/08/events">
 <instrumentation><events>
  <provider name="Fuzz" guid="{{{GUID}}}">
   <events><event value="1" version="0" task="T" opcode="win:Start" template="t"/></events>
   <tasks><task name="T" value="1"/></tasks>
   {MAPS}
   <templates><template tid="t">{template}</template></templates>
  </provider>
 </events></instrumentation>
 <localization><resources culture="en-US">{STRINGS}</resources></localization>
</instrumentationManifest>"""


def load(text: bytes) -> pyetwkit.Manifest:
    fd, name = tempfile.mkstemp(suffix=".man")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
        return pyetwkit.Manifest(name)
    finally:
        os.unlink(name)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    template=fields(),
    payloads=st.lists(st.binary(max_size=200), min_size=1, max_size=4),
    ptr=st.sampled_from([4, 8]),
)
def test_generated_manifests_decode_any_payload_safely(
    template: str, payloads: list[bytes], ptr: int
) -> None:
    manifest = load(manifest_xml(template).encode())
    event(
        "usable template"
        if manifest.event_count
        else "refused: " + re.sub(r"\"[^\"]*\"|\d+", "_", manifest.skipped[0])
    )
    if manifest.event_count == 0:
        # The template could not be used: the manifest says why.
        assert len(manifest.skipped) == 1
        assert "event 1 v0" in manifest.skipped[0]
        return
    for payload in payloads:
        result = manifest.decode(GUID, 1, 0, payload, pointer_size=ptr)
        assert result is not None
        name, properties, complete = result
        event(f"complete={complete}")
        assert name == "T/Start"
        assert isinstance(properties, dict)
        assert complete in (True, False)
    assert manifest.decode(GUID, 2, 0, b"") is None


def real_manifests() -> list[Path]:
    root = shared_dir() / "manifests"
    return [
        p
        for p in (
            root / "microsoft-tx/HTTP_Server.man",
            root / "powershell-core/PowerShell.Core.Instrumentation.man",
        )
        if p.is_file()
    ]


@pytest.mark.skipif(not real_manifests(), reason="no manifests in PYETWKIT_TEST_DATA")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_real_manifests_parse_or_raise_manifest_error(data: st.DataObject) -> None:
    files = real_manifests()
    original = bytearray(files[data.draw(st.integers(0, len(files) - 1))].read_bytes())
    for _ in range(data.draw(st.integers(1, 10))):
        at = data.draw(st.integers(0, len(original) - 1))
        original[at] = data.draw(st.sampled_from(list(b'0x9"<>/ =;$()abcLengthcount\xff')))
    if data.draw(st.booleans()):
        del original[data.draw(st.integers(0, len(original) - 1)) :]
    try:
        manifest = load(bytes(original))
    except pyetwkit.ManifestError as e:
        error: pyetwkit.ManifestError | None = e
    else:
        error = None
    if error is not None:
        assert ".man: " in str(error)  # the message names the file
        return
    for guid, _ in manifest.providers[:1]:
        for event_id in range(1, 40):
            manifest.decode(guid, event_id, 0, bytes(range(64)))


def test_manifest_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.man"
    bad.write_text("<instrumentationManifest><oops>")
    with pytest.raises(pyetwkit.ManifestError, match=r"bad\.man: .*not XML"):
        pyetwkit.Manifest(bad)
    empty = tmp_path / "empty.man"
    empty.write_text("<root/>")
    with pytest.raises(pyetwkit.ManifestError, match="no <provider> element"):
        pyetwkit.open_etl(pyetwkit.sample_etl_path(), manifests=[empty])
    with pytest.raises(FileNotFoundError):
        pyetwkit.load_manifest(tmp_path / "missing.man")
    with pytest.raises(IsADirectoryError):
        pyetwkit.Manifest(tmp_path)
    utf16 = tmp_path / "utf16.man"
    utf16.write_bytes(
        b"\xff\xfe" + manifest_xml('<data name="a" inType="win:UInt32"/>').encode("utf-16-le")
    )
    parsed = pyetwkit.Manifest(utf16)
    assert parsed.providers == [(GUID, "Fuzz")]
    assert parsed.decode(GUID, 1, 0, b"\x07\x00\x00\x00") == ("T/Start", {"a": 7}, True)
    with pytest.raises(ValueError, match="pointer_size"):
        parsed.decode(GUID, 1, 0, b"", pointer_size=2)
