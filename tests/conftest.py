"""Shared fixtures. Corpus data is read through PYETWKIT_TEST_DATA (default
``../shared`` beside the checkout) and never copied into the repository; tests
that need it skip cleanly where it is absent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent

# Local runs explore new examples every time (that is how bugs are found); CI
# replays a fixed set, so a green run on a developer's machine stays green there.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


EXAMPLES = ROOT / "examples"


def run_example(example: str, *args: str, status: int = 0) -> subprocess.CompletedProcess[str]:
    """Runs examples/``example`` as a user does; its exit status must be ``status``."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / example), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == status, done.stderr
    return done


def shared_dir() -> Path:
    return Path(os.environ.get("PYETWKIT_TEST_DATA", ROOT.parent / "shared"))


def corpus_dir() -> Path:
    return shared_dir() / "etl-corpus"


def have_corpus() -> bool:
    return (corpus_dir() / "expected_counts.json").is_file()


def corpus_files() -> list[str]:
    """Names of the corpus files (empty where the corpus is absent)."""
    if not have_corpus():
        return []
    return sorted(p.name for p in corpus_dir().glob("*.etl"))


def recordings() -> list[str]:
    """The sample recording, then every corpus file (where the corpus is present)."""
    import pyetwkit

    return [pyetwkit.sample_etl_path()] + [str(corpus_dir() / name) for name in corpus_files()]


needs_corpus = pytest.mark.skipif(
    not have_corpus(), reason=f"no .etl corpus at {corpus_dir()} (set PYETWKIT_TEST_DATA)"
)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not have_corpus():
        pytest.skip(f"no .etl corpus at {corpus_dir()} (set PYETWKIT_TEST_DATA)")
    return corpus_dir()


@pytest.fixture(scope="session")
def manifests() -> Path:
    """The instrumentation manifests (and their paired traces) in the shared data."""
    path = shared_dir() / "manifests"
    if not (path / "SOURCE.md").is_file():
        pytest.skip(f"no manifests at {path} (set PYETWKIT_TEST_DATA)")
    return path


@pytest.fixture(scope="session")
def expected_counts(corpus: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((corpus / "expected_counts.json").read_text())
    return data


T = TypeVar("T")


def drain(items: Iterable[T]) -> tuple[list[T], Exception | None]:
    """Everything an iterable yields, and the exception that ended it, if any."""
    got: list[T] = []
    try:
        for item in items:
            got.append(item)
    except Exception as e:
        return got, e
    return got, None


async def adrain(items: AsyncIterable[T]) -> tuple[list[T], Exception | None]:
    got: list[T] = []
    try:
        async for item in items:
            got.append(item)
    except Exception as e:
        return got, e
    return got, None


@pytest.fixture
def sigint_handled() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt during the test, as in an interactive
    Python. A runner started with SIGINT ignored (``nohup``, some CI services)
    leaves it ignored, and the SIGINT a test sends would do nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# A child Python that handles Ctrl-C as one started from a terminal does, whatever
# this runner ignores (a child inherits ignored signals, and Python then leaves
# SIGINT ignored). Run code with [*PYTHON_WITH_CTRL_C, "-c", code] or a module
# with [*PYTHON_WITH_CTRL_C, "-m", "pyetwkit", ...].
PYTHON_WITH_CTRL_C = [
    sys.executable,
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "how, what, *sys.argv[1:] = sys.argv[1:]; "
    "exec(what, {'__name__': '__main__'}) if how == '-c' "
    "else runpy.run_module(what, run_name='__main__', alter_sys=True)",
]


@pytest.fixture(scope="session")
def sigma_dir() -> Path:
    """SigmaHQ's rules, regression samples, thor.yml and the specification."""
    path = shared_dir() / "sigma"
    if not (path / "SOURCE.md").is_file():
        pytest.skip(f"no Sigma data at {path} (set PYETWKIT_TEST_DATA)")
    return path
