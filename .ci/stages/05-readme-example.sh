#!/usr/bin/env bash
# CI stage: the README's examples work.
# 1. The "Using twinkv-core" example is the doc test on `Store`
#    (core/src/store/mod.rs), verbatim, and the "On a device" one the doc
#    test on `FlashStore` (core/src/aliases.rs) without its hidden lines. The README is not compiled; the doc
#    test is (`cargo test --workspace`), so keeping the two identical keeps
#    the README's example compiling. The "Async" block is core/README.md's
#    "Async" doc test (compiled through the crate docs) without hidden lines.
# 2. The ```sh block of "Provisioning and debugging devices" runs, in an
#    empty temporary directory with the workspace's `twinkv` first on the
#    PATH, and prints exactly the ```text block that follows it.
# Same in both modes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# doc_block FILE ITEM: the first ``` block of the doc comment right above
# the line that starts with ITEM, without rustdoc's hidden `# ` lines.
doc_block() {
    awk -v item="$2" '
        /^[[:space:]]*\/\/\// { comment = comment $0 "\n"; next }
        /^[[:space:]]*#\[/ { next }
        index($0, item) == 1 { printf "%s", comment; exit }
        { comment = "" }
    ' "$1" | sed -E 's#^[[:space:]]*/// ?##' | awk '
        /^```/ { if (inside) exit; inside = 1; next }
        inside && !/^#( |$)/ { print }
    '
}
# readme_block HEADING: the first ```rust block of README.md's section whose
# heading line starts with HEADING (up to the next heading of its level or
# above).
readme_block() {
    awk -v heading="$1" '
        BEGIN { level = index(heading, " ") - 1 }
        index($0, heading) == 1 { section = 1; next }
        section && match($0, /^#+ /) && RLENGTH - 1 <= level { exit }
        section && /^```rust/ { inside = 1; next }
        inside && /^```/ { exit }
        inside { print }
    ' README.md
}

doc=$(doc_block core/src/store/mod.rs "pub struct Store<")
readme=$(readme_block "## Using twinkv-core")

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

# 1b. The "On a device" block is the doc test on `FlashStore`.
flash_doc=$(doc_block core/src/aliases.rs "pub type FlashStore<")
flash_readme=$(readme_block "### On a device")
if [ -z "$flash_doc" ] || [ "$flash_doc" != "$flash_readme" ]; then
    echo "README.md's 'On a device' block differs from the doc test on FlashStore in core/src/aliases.rs:" >&2
    diff <(echo "$flash_doc") <(echo "$flash_readme") >&2 || true
    exit 1
fi
echo "README device type example = FlashStore doc test ($(wc -l <<<"$flash_doc") lines)"

# 1c. The "Async" block is core/README.md's "Async" doc test without its
# hidden lines.
core_async=$(awk '
    /^## Async/ { section = 1; next }
    section && /^## / { exit }
    section && /^```rust/ { inside = 1; next }
    inside && /^```/ { exit }
    inside && !/^#( |$)/ { print }
' core/README.md)
readme_async=$(readme_block "### Async")
if [ -z "$core_async" ] || [ "$core_async" != "$readme_async" ]; then
    echo "README.md's 'Async' block differs from core/README.md's 'Async' doc test:" >&2
    diff <(echo "$core_async") <(echo "$readme_async") >&2 || true
    exit 1
fi
echo "README async example = core/README.md Async doc test ($(wc -l <<<"$core_async") lines)"

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
