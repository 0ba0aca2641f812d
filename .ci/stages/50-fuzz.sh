#!/usr/bin/env bash
# CI stage: fuzz smoke (quick) or fuzz campaign (long).
#
# Builds every cargo-fuzz target in fuzz/ with a pinned nightly and a pinned
# cargo-fuzz (installing both if missing), then runs each target from a
# temporary copy of its committed seed corpus fuzz/corpus/<target>/ (so the
# committed corpus is never modified). Quick mode gives each target its share
# of 80 s (record_roundtrip 10 s, open_image 20 s, ops 20 s,
# ops_with_power_loss 30 s: the script targets, with faults between
# operations and power cuts, have the most to explore); long mode 10 min
# each. Two targets run at a time, longest first (TWINKV_FUZZ_JOBS), so
# quick mode's fuzzing takes 40 s of wall time and long mode's 20 min. Any crash, panic, timeout (an input running > 10 s: a hang) or
# out-of-memory fails the stage; libFuzzer's artifact is left in
# fuzz/artifacts/<target>/ and its path and bytes are printed.
#
# Quick mode derives the libFuzzer seed from the commit (`git rev-parse
# HEAD`), so every commit explores a different sequence of inputs while a
# re-run of the same commit replays it (a failure reproduces); the seed is
# printed. Long mode uses a random seed, printed.
#
# Usage: .ci/stages/50-fuzz.sh [quick|long]   (default: $TWINKV_CI_MODE, else quick)
# Overrides: TWINKV_FUZZ_SECONDS (seconds per target, every target),
# TWINKV_FUZZ_TARGETS (space-separated subset), TWINKV_FUZZ_SEED (libFuzzer
# -seed, 0 = random).
set -euo pipefail

MODE=${1:-${TWINKV_CI_MODE:-quick}}
NIGHTLY=nightly-2026-10-25
CARGO_FUZZ_VERSION=0.13.2

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ ! -d fuzz ]; then
    echo "no fuzz/ directory: nothing to fuzz"
    exit 0
fi

# A seed from the commit: the first 7 hex digits of HEAD, plus 1 (libFuzzer
# takes 0 as "random"); a fixed one outside a git checkout.
commit_seed() {
    local head
    if head=$(git rev-parse HEAD 2>/dev/null); then
        echo $((16#${head:0:7} + 1))
    else
        echo 20261125
    fi
}

case "$MODE" in
quick) SEED=$(commit_seed) ;;
long) SEED=$(((RANDOM << 15 | RANDOM) + 1)) ;;
*)
    echo "unknown mode '$MODE' (quick or long)" >&2
    exit 2
    ;;
esac
SEED=${TWINKV_FUZZ_SEED:-$SEED}

# Seconds for target $1 in this mode (TWINKV_FUZZ_SECONDS overrides all).
seconds_for() {
    if [ -n "${TWINKV_FUZZ_SECONDS:-}" ]; then
        echo "$TWINKV_FUZZ_SECONDS"
    elif [ "$MODE" = long ]; then
        echo 600
    else
        case "$1" in
        record_roundtrip) echo 10 ;;
        ops_with_power_loss) echo 30 ;;
        *) echo 20 ;;
        esac
    fi
}
echo "fuzz mode $MODE, libFuzzer -seed=$SEED (set TWINKV_FUZZ_SEED to replay another)"

# The pinned nightly (cargo-fuzz needs -Z sanitizer flags).
if rustup toolchain list | grep -q "^$NIGHTLY-"; then
    echo "toolchain $NIGHTLY already installed"
else
    rustup toolchain install "$NIGHTLY" --profile minimal
fi
rustc "+$NIGHTLY" --version

# The pinned cargo-fuzz, built with the default (stable) toolchain.
if [ "$(cargo fuzz --version 2>/dev/null | head -n 1)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "cargo-fuzz $CARGO_FUZZ_VERSION already installed"
else
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

cd fuzz
# The committed corpus and the fixed findings as plain tests, on stable, while
# the nightly builds the fuzz targets: the two builds share no unit and lock
# different directories (target/debug; target/release and
# target/<host triple>/release), and each is mostly one crate at a time. The
# tests' output is printed after the fuzz build's.
TEST_LOG=$(mktemp)
cargo test >"$TEST_LOG" 2>&1 &
TEST_PID=$!
build_rc=0
cargo "+$NIGHTLY" fuzz build || build_rc=$?
test_rc=0
wait "$TEST_PID" || test_rc=$?
echo "--- cargo test (stable)"
cat "$TEST_LOG"
rm -f "$TEST_LOG"
if [ "$test_rc" -ne 0 ] || [ "$build_rc" -ne 0 ]; then
    echo "fuzz: cargo test exited $test_rc, cargo fuzz build $build_rc" >&2
    exit 1
fi

if [ -n "${TWINKV_FUZZ_TARGETS:-}" ]; then
    read -r -a TARGETS <<<"$TWINKV_FUZZ_TARGETS"
else
    mapfile -t TARGETS < <(cargo "+$NIGHTLY" fuzz list)
fi
if [ ${#TARGETS[@]} -eq 0 ]; then
    echo "no fuzz targets found" >&2
    exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p target/ci-logs

# Two targets at a time (libFuzzer runs one process on one core; this machine
# kind has two), longest first, each on its own core for its whole time:
# quick mode's 80 s of fuzzing take 40 s (30 + 10 and 20 + 20).
JOBS=${TWINKV_FUZZ_JOBS:-2}
mapfile -t ORDER < <(for t in "${TARGETS[@]}"; do echo "$(seconds_for "$t") $t"; done |
    sort -k1,1nr -s | cut -d' ' -f2)

fuzz_one() {
    local t=$1 corpus log secs rc=0
    corpus="$WORK/corpus-$t"
    log="target/ci-logs/$t.log"
    secs=$(seconds_for "$t")
    touch "$WORK/start-$t"
    cargo "+$NIGHTLY" fuzz run "$t" "$corpus" -- \
        -seed="$SEED" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$log" 2>&1 || rc=$?
    echo "$rc" >"$WORK/rc-$t"
}

total=0
running=0
for t in "${ORDER[@]}"; do
    corpus="$WORK/corpus-$t"
    mkdir -p "$corpus"
    if [ -d "corpus/$t" ]; then
        cp -R "corpus/$t/." "$corpus/"
    fi
    seeds=$(find "$corpus" -type f | wc -l)
    secs=$(seconds_for "$t")
    total=$((total + secs))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    echo "--- fuzz $t: $secs s from $seeds seeds, -seed=$SEED (log: fuzz/target/ci-logs/$t.log)"
    fuzz_one "$t" &
    running=$((running + 1))
done
wait

# Results in the targets' order.
failed=()
for t in "${TARGETS[@]}"; do
    log="target/ci-logs/$t.log"
    rc=$(cat "$WORK/rc-$t" 2>/dev/null || echo "no exit status")
    echo "--- fuzz $t:"
    # libFuzzer's last status line: runs, coverage, corpus, speed.
    grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb):' "$log" || true
    if [ "$rc" != 0 ]; then
        echo "!!! fuzz target $t FAILED (exit $rc); last lines of its log:"
        tail -n 80 "$log"
        find "artifacts/$t" -type f -newer "$WORK/start-$t" 2>/dev/null | while read -r a; do
            echo "artifact fuzz/$a ($(wc -c <"$a") bytes):"
            od -A d -t x1 "$a" | head -n 40
        done
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets with findings: ${failed[*]}" >&2
    echo "reproduce: cd fuzz && cargo +$NIGHTLY fuzz run <target> artifacts/<target>/<file>" >&2
    echo "(the run: TWINKV_FUZZ_SEED=$SEED .ci/stages/50-fuzz.sh $MODE)" >&2
    echo "(or on stable: cd fuzz && cargo test, which replays artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, $total s in all, -seed=$SEED, no findings"
