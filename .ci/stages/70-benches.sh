#!/usr/bin/env bash
# CI stage: the benchmarks of benches/ (crate twinkv-benches; see BENCHMARKS.md).
#
# quick: builds every bench target with the peer features (`cargo bench
#   --no-run`; without them the targets are compiled by the core stages'
#   `cargo clippy --workspace --all-targets`) and runs each group once with small sizes
#   (TWINKV_BENCH_QUICK=1: 1k keys, short measurement; a few seconds each).
#   The embedded peers (sequential-storage, ekv) are pure Rust and always run;
#   the host peers (redb, mmkv) need `protoc` for mmkv and run only where it
#   is installed or installable.
# long: the full runs of BENCHMARKS.md (100k live keys, 1M with
#   TWINKV_BENCH_LONG=1), with every peer; installs protobuf-compiler.
#
# Usage: .ci/stages/70-benches.sh [quick|long]   (default: $TWINKV_CI_MODE, else quick)
set -euo pipefail

# shellcheck source=../lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/stage.sh"
cd "$ROOT"

# protoc for mmkv (feature peers-host): installed if missing, as root or through sudo.
have_protoc() { command -v protoc >/dev/null; }
if ! have_protoc; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=(sudo)
    fi
    echo "installing protobuf-compiler (for mmkv)"
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y protobuf-compiler; then
        "${SUDO[@]}" apt-get update || true
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y protobuf-compiler || true
    fi
fi
FEATURES=peers-embedded,plots
if have_protoc; then
    FEATURES=$FEATURES,peers-host
else
    if [ "$MODE" = long ]; then
        echo "protoc is required in long mode (mmkv)" >&2
        exit 1
    fi
    echo "protoc unavailable: redb and mmkv skipped in quick mode"
fi

PKG=(-p twinkv-benches)
echo "--- clippy, peer features ($FEATURES)"
cargo clippy "${PKG[@]}" --all-targets --features "$FEATURES" -- -D warnings
# Without the peer features the bench targets are already compiled (checked)
# by `cargo clippy --workspace --all-targets` in .ci/run; a second optimised
# build of them cost 80 s of this stage.
echo "--- build ($FEATURES)"
cargo bench "${PKG[@]}" --no-run --features "$FEATURES"
# The binaries run below, in one invocation: built one by one by each
# `cargo run`, they took ~29 s, one core idle while each linked.
BINS=(--bin embedded --bin latency --bin rss)
if [ "$MODE" = long ]; then
    BINS+=(--bin plots)
fi
cargo build --release "${PKG[@]}" --features "$FEATURES" "${BINS[@]}"

run() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v c="$*" 'BEGIN { printf "--- %.1f s: %s\n", b - a, c }'
}

if [ "$MODE" = quick ]; then
    export TWINKV_BENCH_QUICK=1
else
    export TWINKV_BENCH_QUICK=0
fi
run cargo bench "${PKG[@]}" --features "$FEATURES" --bench host_ops
run cargo bench "${PKG[@]}" --features "$FEATURES" --bench switch
run cargo bench "${PKG[@]}" --features "$FEATURES" --bench peers
run cargo run --release "${PKG[@]}" --features "$FEATURES" --bin embedded
# Write latency, boots and wear (issue 13): quick ≈ 5 s, long a few minutes.
run cargo run --release "${PKG[@]}" --features "$FEATURES" --bin latency -- "$MODE"
run cargo run --release "${PKG[@]}" --features "$FEATURES" --bin rss
if [ "$MODE" = long ]; then
    run cargo run --release "${PKG[@]}" --features "$FEATURES" --bin plots
fi
echo "benches: all groups ran ($MODE)"
