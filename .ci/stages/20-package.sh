#!/usr/bin/env bash
# CI stage: the published crates (twinkv-core, twinkv-host) stand alone, as a
# user gets them from the registry. Same in both modes.
#
# 1. `cargo package` for each published crate, and its file list; each .crate
#    holds README.md, LICENSE-MIT and LICENSE-APACHE, and twinkv-core holds
#    FORMAT.md as a regular file identical to core/FORMAT.md (the root
#    FORMAT.md is a symlink to it).
# 2. `cargo test --all-features` inside the unpacked packaged twinkv-core, and
#    inside the unpacked packaged twinkv-host with `twinkv-core` patched to
#    that unpacked core (the host package depends on twinkv-core from
#    crates.io, where this version does not exist yet). All features, because
#    cargo package drops the host's path-only self dev-dependency that turns
#    on `_test-hooks` and `serde` in the workspace.
# 3. `cargo tree`: twinkv-host without default features pulls neither clap nor
#    serde_json (and with them it does, so the check is not vacuous).
# 4. MSRV: each crate compiles (`cargo check`: library, no features and all features) with the
#    toolchain of its declared `rust-version`, installed if missing.
# 5. The docs.rs build: `--cfg docsrs`, all features, warnings denied, on the
#    nightly the fuzz stage pins (installed if missing); the flash types carry
#    their feature badge.
# 4 and 5 run in the background while 2 and 3 run; their output follows 3's.
#
# `cargo package` refuses uncommitted changes, as it must on CI's clean clone.
# For a local run on a dirty tree: TWINKV_PACKAGE_ALLOW_DIRTY=1 (packages the
# working tree as it is, with --allow-dirty).
#
# Builds go to their own target directories under the workspace's (package
# checks, MSRV and docs.rs each), so they never replace the workspace's
# artifacts (e.g. target/debug/twinkv, which the host tests run), and are
# removed once checked, so a rerun builds them again. The package checks,
# on the workspace's toolchain and profile, keep their intermediate
# artifacts in the workspace's build directory (cargo's `build.build-dir`)
# instead: the dependencies the workspace's tests built (proptest, serde,
# clap, ...) are reused rather than built a second time; only what the
# packaged crates add (their own units, and dependencies with other
# features) is built, and removed again once checked.
#
# Usage: .ci/stages/20-package.sh [quick|long]   (default: $TWINKV_CI_MODE, else quick)
set -euo pipefail

# shellcheck source=../lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/stage.sh"
cd "$ROOT"

CRATES=(twinkv-core twinkv-host)
# The nightly pinned by the fuzz stage: one pin for the repository.
NIGHTLY=$(sed -n 's/^NIGHTLY=\([A-Za-z0-9.-]*\)$/\1/p' .ci/stages/50-fuzz.sh | head -n 1)
if [ -z "$NIGHTLY" ]; then
    echo "no NIGHTLY= pin found in .ci/stages/50-fuzz.sh" >&2
    exit 1
fi
# The workspace's dev profile (Cargo.toml), which a package does not carry:
# the packaged tests run with the optimisation the workspace tests run with,
# and build-time crates (proc macros) at the workspace's opt-level 0, so that
# the units the workspace's tests built are the same units and are reused.
# Every `key = value` of every [profile.dev...] table, as --config.
PROFILE=()
while IFS= read -r setting; do
    PROFILE+=(--config "$setting")
done < <(awk '
    /^\[/ { table = ""; if ($0 ~ /^\[profile\.dev[].]/) table = substr($0, 2, length($0) - 2); next }
    table != "" && /^[a-z-]+[[:space:]]*=/ { key = $1; sub(/^[^=]*=[[:space:]]*/, ""); print table "." key "=" $0 }
' Cargo.toml)
if [ ${#PROFILE[@]} -lt 4 ]; then
    echo "no [profile.dev] settings read from Cargo.toml: ${PROFILE[*]}" >&2
    exit 1
fi

TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
PKG_DIR="$TARGET_DIR/package"
# Unpacked packages go under target/package/: cargo looks for a workspace
# root above a manifest but stops at a directory ending in target/package
# (where its own verification unpacks), so the unpacked crates are not taken
# for undeclared members of this workspace. Their builds go to a target
# directory of their own.
SRC_DIR="$PKG_DIR/check-src"
BUILD_DIR="$TARGET_DIR/package-check"
# The workspace's build directory (where its dependencies are), the target
# directory unless configured otherwise.
WS_BUILD_DIR=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"build_directory":"\([^"]*\)".*/\1/p')
WS_BUILD_DIR=${WS_BUILD_DIR:-$TARGET_DIR}

section() { echo "--- $*"; }

install_toolchain() {
    local t=$1
    if rustup toolchain list | grep -q "^$t-"; then
        echo "toolchain $t already installed"
    else
        rustup toolchain install "$t" --profile minimal
    fi
}

# ----- 1. package ---------------------------------------------------------------

version=$(cargo pkgid -p twinkv-core | sed 's/.*[#@]//')
for c in "${CRATES[@]}"; do
    v=$(cargo pkgid -p "$c" | sed 's/.*[#@]//')
    if [ "$v" != "$version" ]; then
        echo "$c is at $v, twinkv-core at $version: the stage assumes one workspace version" >&2
        exit 1
    fi
done

DIRTY=()
if [ "${TWINKV_PACKAGE_ALLOW_DIRTY:-0}" = 1 ]; then
    DIRTY=(--allow-dirty)
    echo "TWINKV_PACKAGE_ALLOW_DIRTY=1: packaging the working tree, committed or not"
fi

section "cargo package ${CRATES[*]} ($version)"
PKG_ARGS=()
for c in "${CRATES[@]}"; do
    PKG_ARGS+=(-p "$c")
done
# --no-verify: the verification build is a subset of step 2, which runs the
# packaged tests with the same patched dependency.
cargo package "${PKG_ARGS[@]}" "${DIRTY[@]}" --no-verify

if [ "$(readlink FORMAT.md)" != core/FORMAT.md ]; then
    echo "the root FORMAT.md must be a symlink to core/FORMAT.md (it is: $(ls -l FORMAT.md))" >&2
    exit 1
fi

for c in "${CRATES[@]}"; do
    crate="$PKG_DIR/$c-$version.crate"
    section "$c: packaged files ($(du -k "$crate" | cut -f1) KiB compressed)"
    cargo package -p "$c" "${DIRTY[@]}" --list | sed 's/^/    /'
    required=(README.md LICENSE-MIT LICENSE-APACHE Cargo.toml)
    if [ "$c" = twinkv-core ]; then
        required+=(FORMAT.md)
    fi
    listing=$(tar -tvzf "$crate")
    for f in "${required[@]}"; do
        # A regular file (tar type '-'), not a symlink into the repository.
        if ! grep -qE "^-.* $c-$version/$f\$" <<<"$listing"; then
            echo "$c: $f is missing from the package, or not a regular file" >&2
            exit 1
        fi
    done
    echo "    has ${required[*]} as regular files"
done

# ----- 2. tests inside the packages ---------------------------------------------

# Unpacks a .crate into $SRC_DIR/<name>-<version>, copying only files
# whose content changed: tar restores cargo's fixed archive mtime, which would
# make cargo believe a changed source older than its last build.
unpack() {
    local name=$1 fresh dst f
    fresh=$(mktemp -d)
    tar -xzf "$PKG_DIR/$name-$version.crate" -C "$fresh"
    dst="$SRC_DIR/$name-$version"
    mkdir -p "$dst"
    while IFS= read -r -d '' f; do
        if ! cmp -s "$fresh/$name-$version/$f" "$dst/$f"; then
            mkdir -p "$dst/$(dirname "$f")"
            cp "$fresh/$name-$version/$f" "$dst/$f"
        fi
    done < <(cd "$fresh/$name-$version" && find . -type f -print0)
    while IFS= read -r -d '' f; do
        [ -e "$fresh/$name-$version/$f" ] || rm -f "$dst/$f"
    done < <(cd "$dst" && find . -type f -print0)
    rm -rf "$fresh"
}

for c in "${CRATES[@]}"; do
    unpack "$c"
done
CORE_SRC="$SRC_DIR/twinkv-core-$version"
HOST_SRC="$SRC_DIR/twinkv-host-$version"

# ----- 4. and 5., on other toolchains, beside 2. and 3. --------------------------
#
# The MSRV checks and the docs.rs build use toolchains and target directories
# of their own and share no unit with the package tests: they run in the
# background while the package tests build and run in the foreground (much of
# a build is one crate at a time, e.g. the packaged core's `it` test binary,
# and a chain of proc macros at the start of each toolchain's build, which
# left the second core idle when these ran one after the other). Their output
# is printed once they are done, after the package tests'.
toolchain_checks() {
    # ----- 4. MSRV ------------------------------------------------------------------

    for c in "${CRATES[@]}"; do
        src="$SRC_DIR/$c-$version"
        msrv=$(sed -n 's/^rust-version = "\([0-9.]*\)"$/\1/p' "$src/Cargo.toml")
        if [ -z "$msrv" ]; then
            echo "$c declares no rust-version" >&2
            exit 1
        fi
        section "MSRV: $c compiles with Rust $msrv (declared rust-version)"
        install_toolchain "$msrv"
        # The workspace's lock file: the versions the other checks build.
        # `check`, not `build`: what an older compiler rejects it rejects while
        # checking; code generation added minutes of CI for nothing more.
        cargo "+$msrv" check -p "$c" --target-dir "$TARGET_DIR/msrv" --no-default-features
        cargo "+$msrv" check -p "$c" --target-dir "$TARGET_DIR/msrv" --all-features
    done

    rm -rf "$TARGET_DIR/msrv"

    # ----- 5. docs.rs ---------------------------------------------------------------

    section "docs.rs build: $NIGHTLY, --cfg docsrs, all features, warnings denied"
    install_toolchain "$NIGHTLY"
    DOC_DIR="$TARGET_DIR/docsrs"
    RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo "+$NIGHTLY" doc -p twinkv-core -p twinkv-host \
        --no-deps --all-features --target-dir "$DOC_DIR"
    badge() {
        local page=$1 feature=$2
        if ! grep -q "Available on <strong>crate feature <code>$feature</code>" "$DOC_DIR/doc/$page"; then
            echo "$page has no badge for feature $feature" >&2
            exit 1
        fi
        echo "    $page: badge for feature $feature"
    }
    badge twinkv_core/struct.FlashRegion.html embedded-storage
    badge twinkv_core/struct.SharedFlashRegion.html embedded-storage
    badge twinkv_core/fn.flash_geometry.html embedded-storage
    badge twinkv_core/struct.SimFlash.html flash-sim
    badge twinkv_core/type.MutexFlashRegion.html critical-section
    badge twinkv_core/struct.Store.html serde
    badge twinkv_host/struct.Store.html serde

    rm -rf "$DOC_DIR"
}

TOOLCHAIN_LOG=$(mktemp)
(
    set -euo pipefail
    toolchain_checks
) >"$TOOLCHAIN_LOG" 2>&1 &
TOOLCHAIN_PID=$!
# If the foreground fails first, the background checks (the subshell and the
# cargo it runs) stop with it.
stop_toolchain_checks() {
    kill $(pgrep -P "$TOOLCHAIN_PID" 2>/dev/null) "$TOOLCHAIN_PID" 2>/dev/null || true
    rm -f "$TOOLCHAIN_LOG"
}
trap stop_toolchain_checks EXIT

# What the workspace's build directory holds before the package checks
# (units: dependency, fingerprint and build-script directories and files):
# the checks' own units are removed after them.
units() {
    find "$WS_BUILD_DIR/debug" -mindepth 2 -maxdepth 2 2>/dev/null | sort
}
UNITS_BEFORE=$(mktemp)
units >"$UNITS_BEFORE"

# Final artifacts (the packaged `twinkv`) to $BUILD_DIR, intermediate ones
# to the workspace's build directory.
export CARGO_BUILD_BUILD_DIR="$WS_BUILD_DIR"

section "cargo test --all-features inside the packaged twinkv-core"
(
    cd "$CORE_SRC"
    CARGO_TARGET_DIR="$BUILD_DIR" cargo test "${PROFILE[@]}" --all-features
)

section "cargo test --all-features inside the packaged twinkv-host (twinkv-core patched to the packaged core)"
(
    cd "$HOST_SRC"
    CARGO_TARGET_DIR="$BUILD_DIR" cargo test "${PROFILE[@]}" \
        --config "patch.crates-io.twinkv-core.path=\"$CORE_SRC\"" --all-features
)
unset CARGO_BUILD_BUILD_DIR

# These builds are used once: their space goes back to the disk before the
# next stages (a CI machine's disk is small).
rm -rf "$BUILD_DIR"
added=$(units | comm -13 "$UNITS_BEFORE" -)
rm -f "$UNITS_BEFORE"
if [ -n "$added" ]; then
    echo "    removing the $(wc -l <<<"$added") units the package checks added to $WS_BUILD_DIR/debug" \
        "($(xargs -d '\n' du -csh <<<"$added" 2>/dev/null | tail -n 1 | cut -f1))"
    xargs -d '\n' rm -rf <<<"$added"
fi

# ----- 3. the lean library ------------------------------------------------------

section "cargo tree: twinkv-host without default features"
lean=$(cargo tree -p twinkv-host --no-default-features -e normal --target all --prefix none |
    sed 's/ (\*)$//' | sort -u)
full=$(cargo tree -p twinkv-host -e normal --target all --prefix none | sed 's/ (\*)$//' | sort -u)
for dep in clap serde_json; do
    if grep -q "^$dep v" <<<"$lean"; then
        echo "twinkv-host --no-default-features depends on $dep:" >&2
        cargo tree -p twinkv-host --no-default-features -e normal --target all -i "$dep" >&2
        exit 1
    fi
    if ! grep -q "^$dep v" <<<"$full"; then
        echo "twinkv-host with default features has no $dep: is the check still meaningful?" >&2
        exit 1
    fi
done
echo "    no clap, no serde_json: $(wc -l <<<"$lean") packages without default features" \
    "(twinkv-host itself included), $(wc -l <<<"$full") with the default cli"

rc=0
wait "$TOOLCHAIN_PID" || rc=$?
trap - EXIT
cat "$TOOLCHAIN_LOG"
rm -f "$TOOLCHAIN_LOG"
if [ "$rc" -ne 0 ]; then
    echo "the MSRV or docs.rs checks failed (exit $rc): see their output above" >&2
    exit "$rc"
fi
echo "package: ${CRATES[*]} $version stand alone"
