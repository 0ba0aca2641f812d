#!/usr/bin/env bash
# CI stage: core's CRC-32C through the CPU's instructions. `hw-crc` built with
# SSE4.2 enabled at compile time (`-C target-cpu=x86-64-v2`) feeds every
# CRC-32C piece to the `crc32` instruction (core/src/format/checks.rs); the
# default test run never builds that path. This runs core's unit tests
# (whose CRC tests compare against a bit-by-bit reference) and the format
# golden and lend tests that way, in their own target directory (the flags
# would otherwise rebuild the workspace's artifacts), and fails if the
# instruction path was not compiled in; then clippy on that build. Skipped
# on hosts other than x86-64. Same in both modes.
set -euo pipefail

# shellcheck source=../lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/stage.sh"
cd "$ROOT"

if [ "$(uname -m)" != x86_64 ]; then
    echo "skipped: host is $(uname -m), the SSE4.2 path is x86-64 only"
    exit 0
fi
if ! grep -qw sse4_2 /proc/cpuinfo 2>/dev/null; then
    echo "skipped: this CPU has no SSE4.2"
    exit 0
fi
export RUSTFLAGS="-C target-cpu=x86-64-v2"
ARGS=(-p twinkv-core --features hw-crc --target-dir target/hw-crc)
TESTS=(--lib --test format_golden --test lend)
# The test that exists only in the instruction build.
LIST=$(cargo test "${ARGS[@]}" --lib -- --list)
if ! grep -q '^format::checks::tests::crc32c_through_the_cpu_instructions: test$' <<<"$LIST"; then
    echo "the hw-crc build did not take the CRC-instruction path" >&2
    exit 1
fi
cargo test "${ARGS[@]}" "${TESTS[@]}"
cargo clippy "${ARGS[@]}" --lib --tests -- -D warnings
