#!/usr/bin/env bash
# Benchmarks: a release build of pyetwkit and the pinned peers in benches/.venv, then
# `bash benches/run.sh [read|pipeline|decode|live|sigma|automation|arrow|properties] [ARGS...]` runs bench_read.py (the default),
# bench_pipeline.py, bench_decode.py, bench_live.py, bench_sigma.py, bench_automation.py, bench_arrow.py or
# bench_properties.py. Needs python3 >= 3.10
# and a Rust toolchain.
# The Rust build goes to $CARGO_TARGET_DIR when set, else to the repository's target/.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "$bench_dir")"
venv="$bench_dir/.venv"
python="$venv/bin/python"

if [[ ! -x "$python" ]]; then
    python3 -m venv "$venv"
fi
"$python" -m pip install --quiet --disable-pip-version-check -r "$bench_dir/requirements.txt"
"$python" -m pip install --quiet --disable-pip-version-check -r "$bench_dir/requirements-sigma.txt"

# pip builds the extension with maturin through PEP 517, which builds in release mode;
# the build log is checked for it, so a debug build can never be benchmarked by mistake.
build_log="$(mktemp)"
trap 'rm -f "$build_log"' EXIT
"$python" -m pip uninstall --quiet --yes pyetwkit
echo "building pyetwkit (release) from $repo_root ..."
if ! "$python" -m pip install --verbose --disable-pip-version-check "$repo_root" \
    >"$build_log" 2>&1; then
    cat "$build_log" >&2
    echo "run.sh: building pyetwkit failed" >&2
    exit 1
fi
if ! grep -q 'Finished `release` profile' "$build_log"; then
    cat "$build_log" >&2
    echo "run.sh: the pyetwkit build was not a release build" >&2
    exit 1
fi

bench="read"
if [[ $# -gt 0 && ( "$1" == "read" || "$1" == "pipeline" || "$1" == "decode" || "$1" == "live" || "$1" == "sigma" || "$1" == "automation" || "$1" == "arrow" || "$1" == "properties" ) ]]; then
    bench="$1"
    shift
fi
exec "$python" "$bench_dir/bench_$bench.py" "$@"
