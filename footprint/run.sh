#!/usr/bin/env bash
# Footprint of twinkv against its peers: builds the same minimal firmware
# (src/bin/: open, set 3 keys, get them, on the same RAM-backed NOR flash,
# W = 4, erase unit 4 KiB) for a baseline without a store, twinkv,
# sequential-storage without and with a 64-key pointer cache, and ekv; runs
# each under QEMU (mps2-an385, Cortex-M3) and prints a table:
#
# - flash: .vector_table + .text + .rodata + .data of the ELF
#   (arm-none-eabi-size -A), and the same over the baseline;
# - peak stack: measured by stack painting (src/lib.rs, `stack`): the RAM
#   below the stack pointer is filled with a pattern before the work, and
#   after it the lowest word that lost the pattern gives the high-water mark.
#   Everything a store needs (its object, buffers, caches) is on that stack.
#   The baseline's figure is the painter's own 64 B margin.
#
# Build settings (Cargo.toml, [profile.release]): thumbv7m-none-eabi,
# opt-level "s", fat LTO, codegen-units 1, overflow checks off, panic-halt.
#
# The switching row (bin `twinkv-switching`) is the blocking row's firmware
# with a workload that runs the switch: 1,000 sets with the default
# configuration (erase ahead, incremental switches), then, on the flash
# erased again, 400 sets with the incremental switch off (whole switches
# that fold the write in); then the usual 3 sets and gets. The reboot row
# (bin `twinkv-reopen`) opens flash that holds a log: a first store takes
# 600 sets over the 3 keys (it switches) and is dropped, a second opens the
# same flash (the replay), reads the last values, sets the 3 keys and reads
# them.
#
# Every twinkv row is built without core's default feature `batch` (atomic
# batches, which none of these firmwares writes), except the row of that
# feature: the blocking row's firmware with core's default features, to show
# what leaving them on costs.
#
# The rows of twinkv features (the async front end: bin `twinkv-async`,
# feature `async`; typed values: bin `twinkv-typed`, feature `typed`, which
# enable twinkv-core's `async` and `serde`) are each built in a build of
# their own, so that the feature does not reach the other rows.
#
# Installs what it needs if missing (.ci/lib/thumb-qemu-tools.sh, shared with
# .ci/stages/40-firmware.sh): the thumbv7m-none-eabi target (rustup),
# qemu-system-arm and binutils-arm-none-eabi (apt-get, as root or via sudo).
#
# Usage: footprint/run.sh         (from anywhere; prints the table last)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TARGET=thumbv7m-none-eabi
QEMU=(qemu-system-arm -cpu cortex-m3 -machine mps2-an385 -nographic
    -semihosting-config enable=on,target=native)
TIMEOUT=120

# ----- tools --------------------------------------------------------------------

# shellcheck source=../.ci/lib/thumb-qemu-tools.sh
source "$ROOT/.ci/lib/thumb-qemu-tools.sh"
thumb_qemu_tools "$TARGET"

# ----- rows -----------------------------------------------------------------------

# row|bin|feature of this crate ("-": none)|label
ROWS=(
    "baseline|baseline|-|baseline: start-up, flash, report; no store"
    "twinkv|twinkv|-|twinkv, blocking; FixedIndex<64>"
    "twinkv-batch|twinkv|batch|twinkv, blocking, default features (\`batch\` in: the same firmware)"
    "twinkv-switching|twinkv-switching|-|twinkv, blocking, writes that switch (1,000 incremental, 400 whole)"
    "twinkv-reopen|twinkv-reopen|-|twinkv, blocking, a reboot: open reads a log of 600 sets"
    "twinkv-async|twinkv-async|async|twinkv, async front end, embassy_futures::block_on"
    "twinkv-typed|twinkv-typed|typed|twinkv, blocking, typed values (serde, postcard)"
    "seq|seq|-|sequential-storage 8, no cache"
    "seq-cache|seq-cache|-|sequential-storage 8, 64-key pointer cache"
    "ekv|ekv|-|ekv 1, 12 pages of 4 KiB"
)

export CARGO_TARGET_DIR="$HERE/target"
BIN_DIR="$CARGO_TARGET_DIR/$TARGET/release"
OUT_DIR="$CARGO_TARGET_DIR/footprint"
mkdir -p "$OUT_DIR"
cd "$HERE"

plain=()
for row in "${ROWS[@]}"; do
    IFS='|' read -r _ bin feature _ <<<"$row"
    [ "$feature" = - ] && plain+=(--bin "$bin")
done
echo "--- building ${plain[*]}"
cargo build --release "${plain[@]}"
for row in "${ROWS[@]}"; do
    IFS='|' read -r key bin feature _ <<<"$row"
    [ "$feature" = - ] && cp "$BIN_DIR/$bin" "$OUT_DIR/$key"
done

for row in "${ROWS[@]}"; do
    IFS='|' read -r key bin feature _ <<<"$row"
    [ "$feature" = - ] && continue
    echo "--- building $bin with feature $feature"
    cargo build --release --bin "$bin" --features "$feature"
    cp "$BIN_DIR/$bin" "$OUT_DIR/$key"
done

# ----- measure ---------------------------------------------------------------------

# flash BIN: bytes in flash (.vector_table + .text + .rodata + .data).
flash() {
    arm-none-eabi-size -A "$1" | awk '
        $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" || $1 == ".data" { sum += $2 }
        END { print sum }'
}

# stack BIN: runs BIN under QEMU, checks it succeeded, prints its peak stack.
stack() {
    local out rc
    set +e
    out=$(timeout "$TIMEOUT" "${QEMU[@]}" -kernel "$1" 2>/dev/null)
    rc=$?
    set -e
    echo "$out" >&2
    if [ "$rc" -ne 0 ]; then
        echo "$(basename "$1"): exit code $rc (124: timed out)" >&2
        return 1
    fi
    sed -n 's/.*: ok; peak stack \([0-9]*\) B.*/\1/p' <<<"$out"
}

declare -A FLASH STACK
for row in "${ROWS[@]}"; do
    IFS='|' read -r key _ _ _ <<<"$row"
    FLASH[$key]=$(flash "$OUT_DIR/$key")
    STACK[$key]=$(stack "$OUT_DIR/$key")
done

# ----- table -------------------------------------------------------------------------

echo
echo "$TARGET, $(rustc --version | cut -d' ' -f1-2), opt-level \"s\", fat LTO, codegen-units 1, overflow checks off, panic-halt"
echo
echo "| firmware | flash | over baseline | peak stack |"
echo "|---|---:|---:|---:|"
base=${FLASH[baseline]}
for row in "${ROWS[@]}"; do
    IFS='|' read -r key _ _ label <<<"$row"
    if [ "$key" = baseline ]; then
        echo "| $label | ${FLASH[$key]} B | – | ${STACK[$key]} B |"
    else
        echo "| $label | ${FLASH[$key]} B | $((FLASH[$key] - base)) B | ${STACK[$key]} B |"
    fi
done
