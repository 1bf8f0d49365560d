"""Provider factories against the providers' own manifests, and the kernel
logger's classes against the reader's kernel table."""

from __future__ import annotations

import functools
import operator
import re
from pathlib import Path

import pyetwkit
import pytest
from conftest import shared_dir
from pyetwkit import providers as p

TDH = "nasbench-tdh-dumps"
MANIFESTS = {
    "Microsoft-Windows-Kernel-Process": f"{TDH}/Microsoft-Windows-Kernel-Process.manifest.xml",
    "Microsoft-Windows-DNS-Client": f"{TDH}/Microsoft-Windows-DNS-Client.manifest.xml",
    "Microsoft-Windows-PowerShell": f"{TDH}/Microsoft-Windows-Powershell.manifest.xml",
    "Microsoft-Windows-Kernel-File": "microsoft-tx/SystemEvents.man",
    "Microsoft-Windows-Kernel-Registry": "microsoft-tx/SystemEvents.man",
    "Microsoft-Windows-Kernel-Network": "microsoft-tx/SystemEvents.man",
}

KEYWORD_ENUMS = {
    "Microsoft-Windows-Kernel-Process": p.KernelProcessKeywords,
    "Microsoft-Windows-Kernel-File": p.KernelFileKeywords,
    "Microsoft-Windows-Kernel-Registry": p.KernelRegistryKeywords,
    "Microsoft-Windows-Kernel-Network": p.KernelNetworkKeywords,
    "Microsoft-Windows-DNS-Client": p.DnsClientKeywords,
    "Microsoft-Windows-PowerShell": p.PowerShellKeywords,
}


def manifest_provider(path: Path, name: str) -> tuple[str, set[int]]:
    """(GUID, keyword masks) of provider `name` in a manifest."""
    text = path.read_text(encoding="utf-8", errors="replace")
    for block in re.split(r"<provider\b", text)[1:]:
        head = block[: block.index(">")]
        if re.search(rf'name="{re.escape(name)}"', head, re.IGNORECASE):
            guid = re.search(r'guid="\{?([0-9a-fA-F-]+)\}?"', head)
            assert guid is not None
            masks = {
                int(m, 16) for m in re.findall(r'<keyword\b[^>]*?mask="(0x[0-9a-fA-F]+)"', block)
            }
            return guid.group(1).lower(), masks
    raise AssertionError(f"{name} not in {path}")


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_guids_and_keywords_match_the_manifests(name: str) -> None:
    path = shared_dir() / "manifests" / MANIFESTS[name]
    if not path.is_file():
        pytest.skip(f"no manifest at {path} (PYETWKIT_TEST_DATA)")
    guid, masks = manifest_provider(path, name)
    provider = next(x for x in p.catalog() if x.name == name)
    assert isinstance(provider, p.Provider)
    assert provider.guid == guid
    # Every keyword pyetwkit names exists in the manifest, and so do the defaults.
    for member in KEYWORD_ENUMS[name]:
        assert member.value in masks, (name, member)
    every_keyword = functools.reduce(operator.or_, masks, 0)
    assert provider.keywords_any & ~every_keyword == 0


def test_kernel_logger_classes_are_the_reader_classes() -> None:
    with pyetwkit.open_etl(pyetwkit.sample_etl_path()) as etl:
        seen = {e.provider_name: e.provider_id for e in etl if e.kind == "kernel"}
    assert p.kernel_logger_process().classes == (seen["Process"],)
    assert p.kernel_logger_thread().classes == (seen["Thread"],)
    assert p.kernel_logger_image().classes == (seen["Image"],)
    combined = p.kernel_logger(p.KernelFlags.PROCESS | p.KernelFlags.THREAD)
    assert combined.classes == (seen["Process"], seen["Thread"])
    assert (p.kernel_logger_process() | p.kernel_logger_image()).flags == (
        p.KernelFlags.PROCESS | p.KernelFlags.IMAGE_LOAD
    )


def test_catalog_and_options() -> None:
    names = [x.name for x in p.catalog()]
    assert len(names) == len(set(names)) == 16
    ti = p.threat_intelligence()
    assert "PPL" in ti.privileges
    assert "administrator is not enough" in ti.privileges
    ps = p.powershell().with_options(level=p.Level.WARNING, keywords_any=0x1)
    assert (ps.level, ps.keywords_any, ps.guid) == (3, 1, p.powershell().guid)
    assert p.kernel_process().keywords_any == 0x70


def test_providers_command_lists_them() -> None:
    import io

    from pyetwkit.cli import main

    out = io.StringIO()
    assert main(["providers"], out=out) == 0
    text = out.getvalue()
    for x in p.catalog():
        assert x.name in text
    assert "22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716" in text
    assert "PPL" in text
