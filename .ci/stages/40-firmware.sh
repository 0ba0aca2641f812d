#!/usr/bin/env bash
# CI stage: twinkv on an emulated Cortex-M3 (QEMU lm3s6965evb).
#
# Installs what it needs if missing (qemu-system-arm and binutils-arm-none-eabi
# with apt-get, as root or through sudo; the thumbv7m-none-eabi target with
# rustup: .ci/lib/thumb-qemu-tools.sh), checks the firmware crate (fmt,
# clippy -D warnings), builds it
# (firmware/ is its own workspace, outside the main one), runs its binaries
# under QEMU with a timeout (exit code 0 only if every value checks out:
# the demo, the minimal build, and `batch-fixture`, which opens a log that
# holds a batch in a build without core's `batch` feature) and prints the
# sizes (.text/.data/.bss) and measured peak stack of the first two.
#
# Long mode also runs the ≥ 1M-write wear test of the flash simulator
# (core/tests/flash_wear.rs, #[ignore]d by default), optimised.
#
# Usage: .ci/stages/40-firmware.sh [quick|long]   (default: $TWINKV_CI_MODE, else quick)
set -euo pipefail

# shellcheck source=../lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/stage.sh"
cd "$ROOT"
TARGET=thumbv7m-none-eabi
QEMU=(qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic
    -semihosting-config enable=on,target=native)
TIMEOUT=60

# ----- tools --------------------------------------------------------------------

# shellcheck source=../lib/thumb-qemu-tools.sh
source "$ROOT/.ci/lib/thumb-qemu-tools.sh"
thumb_qemu_tools "$TARGET"

# ----- build --------------------------------------------------------------------

# The firmware is not a workspace member: its own target directory (ignored
# by git). An environment RUSTFLAGS cannot drop `-Tlink.x`: build.rs passes it.
export CARGO_TARGET_DIR="$ROOT/firmware/target"
(
    cd firmware
    cargo fmt -- --check
    cargo clippy --release --bins -- -D warnings
    cargo build --release --bins
)
BIN_DIR="$CARGO_TARGET_DIR/$TARGET/release"

# ----- run under QEMU ------------------------------------------------------------

run() {
    local bin=$1 out rc
    echo "--- $bin under QEMU (timeout ${TIMEOUT} s)"
    set +e
    # stderr carries QEMU's harmless "Timer with period zero" line.
    out=$(timeout "$TIMEOUT" "${QEMU[@]}" -kernel "$BIN_DIR/$bin" 2>/dev/null)
    rc=$?
    set -e
    printf '%s\n' "$out"
    if [ "$rc" -eq 124 ]; then
        echo "$bin: timed out after ${TIMEOUT} s (no -semihosting-config? no -Tlink.x?)" >&2
        return 1
    fi
    if [ "$rc" -ne 0 ]; then
        echo "$bin: exit code $rc" >&2
        return 1
    fi
    PEAK[$bin]=$(sed -n 's/.*peak stack \([0-9]*\) B.*/\1/p' <<<"$out" | tail -n 1)
}

declare -A PEAK
run demo
run minimal
# Built without core's `batch` feature: opens a log holding a batch.
run batch-fixture

# ----- footprint -----------------------------------------------------------------

echo "--- footprint (arm-none-eabi-size; .text includes .rodata and the vector table)"
arm-none-eabi-size "$BIN_DIR/minimal" "$BIN_DIR/demo"
for bin in minimal demo; do
    read -r text data bss _ < <(arm-none-eabi-size "$BIN_DIR/$bin" | tail -n 1)
    echo "$bin: .text $text B, .data $data B, .bss $bss B, static RAM $((data + bss)) B, peak stack ${PEAK[$bin]:-?} B"
done

# ----- long: wear ----------------------------------------------------------------

if [ "$MODE" = long ]; then
    echo "--- wear: 1M writes per geometry on SimFlash"
    (
        unset CARGO_TARGET_DIR
        cargo test --release -p twinkv-core --features flash-sim --test it \
            -- --ignored --nocapture flash_wear::
    )
fi
echo "firmware ok"
