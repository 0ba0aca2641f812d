#!/usr/bin/env bash
# Long mode only: the footprint of twinkv against sequential-storage and ekv
# (footprint/run.sh: the same minimal firmware for each, built for
# thumbv7m-none-eabi and run under QEMU; prints flash over a baseline and
# peak stack), then checks the footprint crate (fmt, clippy -D warnings,
# without and with the features of the async and typed-values rows).
# run.sh installs what it needs if missing (the target with rustup;
# qemu-system-arm and binutils-arm-none-eabi with apt-get). It fails if a
# firmware fails or hangs; the figures are printed, not judged.
set -euo pipefail
mode="${1:-${TWINKV_CI_MODE:-quick}}"
if [ "$mode" != long ]; then
    echo "footprint: long mode only (footprint/run.sh); skipped"
    exit 0
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
"$ROOT/footprint/run.sh"
(
    cd "$ROOT/footprint"
    export CARGO_TARGET_DIR="$ROOT/footprint/target"
    cargo fmt -- --check
    cargo clippy --release --bins -- -D warnings
    # The feature rows' bins (twinkv-async, twinkv-typed) need their features.
    cargo clippy --release --bins --all-features -- -D warnings
)
