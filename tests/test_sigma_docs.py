"""docs/sigma.md shows the mapping table the code uses (one definition, in Rust)."""

from __future__ import annotations

from pathlib import Path

from pyetwkit import sigma

DOC = Path(__file__).resolve().parent.parent / "docs" / "sigma.md"
START, END = "<!-- mapping-table:start -->", "<!-- mapping-table:end -->"


def test_the_documented_mapping_is_the_code_s() -> None:
    text = DOC.read_text()
    documented = text[text.index(START) + len(START) : text.index(END)].strip()
    assert documented == sigma.mapping_table(), (
        "regenerate with: python -c 'from pyetwkit import sigma; print(sigma.mapping_table())'"
    )
    for category in ("process_creation", "image_load", "file_event", "file_delete",
                     "registry_add", "registry_set", "registry_delete", "network_connection",
                     "dns_query", "ps_script", "ps_module"):  # fmt: skip
        assert f" {category}" in documented, category
