#!/usr/bin/env bash
# Torture in long mode only: >= 10 million sampled power-cut points across
# seeds, write units and tear modes (the exhaustive small harness already
# runs in `cargo test --workspace`), and the damage harness exhaustively
# (every byte of small stores on RAM, SimFlash W = 1..32 and files) plus
# double faults (damage, then a power cut); its quick sample runs in
# `cargo test`.
set -euo pipefail
mode="${1:-${TWINKV_CI_MODE:-quick}}"
if [ "$mode" != long ]; then
  echo "torture: quick mode runs the exhaustive harness inside cargo test; nothing more here"
  exit 0
fi
TWINKV_CUTS="${TWINKV_CUTS:-10000000}" cargo test --release -p twinkv-core --test it -- --ignored --nocapture power_cut::
cargo test --release -p twinkv-core --test it -- --ignored --nocapture damage_harness::
cargo test --release -p twinkv-core --features flash-sim --test it -- --ignored --nocapture damage_flash::
cargo test --release -p twinkv-core --features flash-sim --test it -- --ignored --nocapture power_cut::flash::ecc
cargo test --release -p twinkv-host --test it -- --ignored --nocapture damage_files::
