"""The source distribution: its licence metadata and files (PEP 639), checked on
what ``maturin sdist`` builds (it packs the sources; nothing is compiled)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT

LICENCES = ("LICENSE-MIT", "LICENSE-APACHE")
MATURIN = shutil.which(
    "maturin", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
)


@pytest.mark.skipif(MATURIN is None, reason="maturin is not installed (make venv)")
@pytest.mark.skipif(shutil.which("cargo") is None, reason="maturin sdist runs cargo package")
def test_the_sdist_carries_both_licences(tmp_path: Path) -> None:
    assert MATURIN is not None
    subprocess.run(
        [MATURIN, "sdist", "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (sdist,) = tmp_path.glob("pyetwkit-*.tar.gz")
    with tarfile.open(sdist) as tar:
        top = {Path(n).name: n for n in tar.getnames() if n.count("/") == 1}

        def read(name: str) -> str:
            member = tar.extractfile(top[name])
            assert member is not None
            return member.read().decode()

        for name in LICENCES:
            assert read(name) == (ROOT / name).read_text(), name
        metadata = read("PKG-INFO").split("\n\n")[0].splitlines()
    assert "License-Expression: MIT OR Apache-2.0" in metadata
    assert [line for line in metadata if line.startswith("License-File:")] == [
        f"License-File: {name}" for name in LICENCES
    ]
    assert not [line for line in metadata if line.startswith("Classifier: License ::")], (
        "PEP 639: an expression, not licence classifiers"
    )
