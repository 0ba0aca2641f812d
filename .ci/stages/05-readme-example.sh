#!/usr/bin/env bash
# CI stage: the README's examples work.
# 1. The "Using twinkv-core" example is the doc test on `Store`
#    (core/src/store/mod.rs), verbatim. The README is not compiled; the doc
#    test is (`cargo test --workspace`), so keeping the two identical keeps
#    the README's example compiling.
# 2. The ```sh block of "Provisioning and debugging devices" runs, in an
#    empty temporary directory with the workspace's `twinkv` first on the
#    PATH, and prints exactly the ```text block that follows it.
# Same in both modes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# The first ``` block of the doc comment right above `pub struct Store<`.
doc=$(awk '
    /^[[:space:]]*\/\/\// { comment = comment $0 "\n"; next }
    /^[[:space:]]*#\[/ { next }
    /^pub struct Store</ { printf "%s", comment; exit }
    { comment = "" }
' core/src/store/mod.rs | sed -E 's#^[[:space:]]*/// ?##' | awk '
    /^```/ { if (inside) exit; inside = 1; next }
    inside { print }
')
# The ```rust block after the "Using twinkv-core" heading of README.md.
readme=$(awk '
    /^## Using twinkv-core/ { section = 1; next }
    section && /^## / { exit }
    section && /^```rust/ { inside = 1; next }
    inside && /^```/ { exit }
    inside { print }
' README.md)

if [ -z "$doc" ] || [ -z "$readme" ]; then
    echo "could not find the Store doc example ($(wc -l <<<"$doc") lines) or the README block ($(wc -l <<<"$readme") lines)" >&2
    exit 1
fi
if [ "$doc" != "$readme" ]; then
    echo "README.md's 'Using twinkv-core' block differs from the doc test on Store in core/src/store.rs:" >&2
    diff <(echo "$doc") <(echo "$readme") >&2 || true
    echo "copy the doc test into README.md (the doc test is the one that is compiled)" >&2
    exit 1
fi
echo "README example = Store doc test ($(wc -l <<<"$doc") lines)"

# 2. The device example: the first ```sh block of the section and the
# ```text block after it.
section() {
    awk -v want="$1" '
        /^## Provisioning and debugging devices/ { section = 1; next }
        section && /^## / { exit }
        section && !inside && $0 == "```" want { n++; if (n == 1) { inside = 1; next } }
        inside && /^```$/ { exit }
        inside { print }
    ' README.md
}
script=$(section sh)
expected=$(section text)
if [ -z "$script" ] || [ -z "$expected" ]; then
    echo "could not find the device example's sh and text blocks in README.md" >&2
    exit 1
fi
cargo build --quiet -p twinkv-host --bin twinkv
bin_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -E 's/.*"target_directory":"([^"]*)".*/\1/')/debug
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
actual=$(cd "$work" && PATH="$bin_dir:$PATH" bash -euo pipefail -c "$script")
if [ "$actual" != "$expected" ]; then
    echo "README.md's device example prints something else than its text block:" >&2
    diff <(echo "$expected") <(echo "$actual") >&2 || true
    exit 1
fi
echo "README device example runs and prints its text block ($(wc -l <<<"$script") lines of sh, $(wc -l <<<"$expected") of output)"
