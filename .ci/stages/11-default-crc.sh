#!/usr/bin/env bash
# CI stage: core's checks as a firmware builds them. Without feature
# `crc-tables` (core's default, what `firmware/` and `footprint/` build) every
# CRC is computed bit by bit by core's own small functions
# (core/src/format/checks.rs, module `bits`). `cargo test --workspace` never
# builds that path: the host crate turns on `hw-crc` and features are unified
# across the workspace. This runs core alone, with its default features: its
# unit tests (the bitwise CRCs against the `crc` crate's catalogue and a
# bit-by-bit reference) and the format golden test (every golden block of
# FORMAT.md), and fails if the bitwise path was not compiled in. Same in both
# modes.
set -euo pipefail

# shellcheck source=../lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/stage.sh"
cd "$ROOT"

ARGS=(-p twinkv-core)
# The test that exists only in the bitwise build.
LIST=$(cargo test "${ARGS[@]}" --lib -- --list)
if ! grep -q '^format::checks::tests::bitwise_checks_match_the_crc_crate: test$' <<<"$LIST"; then
    echo "core's default build did not take the bitwise CRC path" >&2
    exit 1
fi
cargo test "${ARGS[@]}" --lib --test format_golden
