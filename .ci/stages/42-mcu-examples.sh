#!/usr/bin/env bash
# CI stage: the example firmware for real MCUs in mcu-examples/ (embassy
# applications on the blocking and the async flash driver and an RTIC 2
# application, on an STM32F411, thumbv7em-none-eabihf) must build. They are not run: there is no board, and QEMU models no STM32F4
# flash controller.
#
# Installs the thumbv7em-none-eabihf target with rustup if missing. Checks
# formatting, builds every binary of the mcu-examples workspace once, with
# --release and --locked, in one cargo invocation, then runs clippy
# (-D warnings) over them, which reuses the build's build scripts and proc
# macros. mcu-examples/ is its own workspace, outside the main one, with its
# own Cargo.lock and its own target directory, mcu-examples/target (ignored
# by git). Prints each binary's size. Under CI (CI=true), whose clone is
# fresh, the stage then removes mcu-examples/target (about 400 MB) to give
# the space back to the stages after it. It deletes nothing else (the crates
# it downloads stay in cargo's registry: stm32-metapac is 13 MB packed,
# 250 MB unpacked). Quick and long modes do the same.
#
# Usage: .ci/stages/42-mcu-examples.sh [quick|long]   (default: $TWINKV_CI_MODE, else quick)
set -euo pipefail

# shellcheck source=../lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/stage.sh"
cd "$ROOT/mcu-examples"
TARGET=thumbv7em-none-eabihf

# ----- tools --------------------------------------------------------------------

if rustup target list --installed | grep -qx "$TARGET"; then
    echo "target $TARGET already installed"
else
    rustup target add "$TARGET"
fi

# ----- build and check ------------------------------------------------------------

# An environment RUSTFLAGS cannot drop `-Tlink.x`: build.rs passes it.
export CARGO_TARGET_DIR="$ROOT/mcu-examples/target"
cargo fmt -- --check

# The binaries cargo built, from its own messages (one "executable" per binary
# of each member), so that a new example needs no change here. The messages
# go to a file first: a failed build must fail the stage.
MESSAGES="$CARGO_TARGET_DIR/build-messages.json"
mkdir -p "$CARGO_TARGET_DIR"
cargo build --release --locked --target "$TARGET" --workspace --bins \
    --message-format=json-render-diagnostics >"$MESSAGES"
mapfile -t BINS < <(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' "$MESSAGES")
if [ ${#BINS[@]} -eq 0 ]; then
    echo "no binary built in mcu-examples/" >&2
    exit 1
fi
cargo clippy --release --locked --target "$TARGET" --workspace --bins -- -D warnings

# ----- sizes ---------------------------------------------------------------------

SIZE=""
for tool in llvm-size arm-none-eabi-size; do
    if command -v "$tool" >/dev/null; then
        SIZE=$tool
        break
    fi
done
if [ -n "$SIZE" ]; then
    echo "--- sizes ($SIZE; text includes .rodata and the vector table)"
    "$SIZE" "${BINS[@]}"
    for bin in "${BINS[@]}"; do
        read -r text data bss _ < <("$SIZE" "$bin" | tail -n 1)
        echo "$(basename "$bin"): flash $((text + data)) B, static RAM $((data + bss)) B"
    done
else
    echo "--- sizes (no llvm-size or arm-none-eabi-size: ELF file sizes, debug info included)"
    ls -l "${BINS[@]}"
fi

if [ "${CI:-}" = true ]; then
    rm -rf "$CARGO_TARGET_DIR"
fi
echo "mcu examples ok: ${#BINS[@]} binaries"
