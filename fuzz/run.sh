#!/usr/bin/env bash
# Builds the libFuzzer targets (stable Rust with sanitizer coverage; no ASan,
# which needs nightly) and runs each for SECONDS (default 30), seeded from the
# sample recording, the corpus (PYETWKIT_TEST_DATA) and the shared manifests.
# Usage: bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${1:-30}"
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(etl_file written_records xpress trace_event_info tracelogging_schema manifest)
fi
data="${PYETWKIT_TEST_DATA:-$here/../../shared}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pyetwkit/target}/fuzz"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the coverage flags off build scripts and proc macros.
triple="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --locked --release --manifest-path "$here/Cargo.toml" --bins --target "$triple"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
summary=()
for t in "${targets[@]}"; do
    seeds="$work/$t"
    mkdir -p "$seeds"
    case "$t" in
        etl_file)
            python3 -c 'import sys, pyetwkit; sys.stdout.buffer.write(open(pyetwkit.sample_etl_path(), "rb").read())' \
                > "$seeds/sample.etl" 2>/dev/null || true
            # Small corpus files (under 200 KB) as seeds: big ones slow every run.
            find "$data/etl-corpus" -name '*.etl' -size -200k -exec cp {} "$seeds/" \; 2>/dev/null || true ;;
        manifest)
            find "$data" -name '*.man' -size -300k -exec cp {} "$seeds/" \; 2>/dev/null || true ;;
    esac
    log="$work/$t.log"
    if ! "$CARGO_TARGET_DIR/$triple/release/$t" -max_total_time="$seconds" -rss_limit_mb=1024 \
        -timeout=60 -max_len=262144 -print_final_stats=1 -artifact_prefix="$work/$t-" \
        "$seeds" >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz/run.sh: $t found a fault; the input is in $work (kept)" >&2
        trap - EXIT
        exit 1
    fi
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    summary+=("$t: $runs inputs in ${seconds}s, no fault")
done
printf '%s\n' "${summary[@]}"
