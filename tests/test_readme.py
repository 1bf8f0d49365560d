"""Every ```python block of README.md runs as a reader would run it, from a
directory beside which the shared test data lies (``../shared``, as beside a
checkout). Blocks that need Windows say so with a ``# windows-only`` comment and
run only there."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from conftest import ROOT, shared_dir

WINDOWS_ONLY = "# windows-only"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of each ```python block."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


def needs_windows(code: str) -> bool:
    return any(line.strip().startswith(WINDOWS_ONLY) for line in code.splitlines())


README = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_its_examples() -> None:
    assert len(README) >= 3


def test_blocks_and_the_windows_marker_are_recognised() -> None:
    text = "intro\n```python\na = 1\n```\n```bash\nb\n```\n"
    text += "```python\n# windows-only: live\nc\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (9, "# windows-only: live\nc\n")]
    assert [needs_windows(code) for _, code in python_blocks(text)] == [False, True]


@pytest.mark.parametrize(("line", "code"), README, ids=[f"line{line}" for line, _ in README])
def test_the_readme_example_runs(
    line: int,
    code: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if needs_windows(code) and sys.platform != "win32":
        pytest.skip("marked windows-only")
    if "../shared/" in code:
        if not shared_dir().is_dir():
            pytest.skip(f"no shared test data at {shared_dir()} (set PYETWKIT_TEST_DATA)")
        try:
            os.symlink(shared_dir().resolve(), tmp_path / "shared", target_is_directory=True)
        except OSError as e:  # Windows without the symlink privilege
            pytest.skip(f"cannot link the shared test data: {e}")
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__main__"})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) >= 2, "what the example shows"
