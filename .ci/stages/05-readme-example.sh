#!/usr/bin/env bash
# CI stage: the README's "Using twinkv-core" example is the doc test on
# `Store` (core/src/store.rs), verbatim. The README is not compiled; the doc
# test is (`cargo test --workspace`), so keeping the two identical keeps the
# README's example compiling. Same in both modes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# The first ``` block of the doc comment right above `pub struct Store<`.
doc=$(awk '
    /^[[:space:]]*\/\/\// { comment = comment $0 "\n"; next }
    /^[[:space:]]*#\[/ { next }
    /^pub struct Store</ { printf "%s", comment; exit }
    { comment = "" }
' core/src/store.rs | sed -E 's#^[[:space:]]*/// ?##' | awk '
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
