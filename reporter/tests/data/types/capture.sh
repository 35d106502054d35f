#!/usr/bin/env bash
# Regenerates the frame-name fixtures of the type-inference tests: builds
# examples/collections.rs three ways, runs it in exact mode, and writes, for
# every site, the function names of its frames (innermost first) up to the
# `fill_*` function that allocated.
#
#   v0.txt                 v0 mangling, debug = "limited" (the recommended build)
#   legacy.txt             legacy mangling, debug = "limited"
#   line-tables-only.txt   legacy mangling, debug = "line-tables-only"
#
# Run from anywhere; takes a few minutes (three release builds).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
out=$(cd "$(dirname "$0")" && pwd)
cd "$root"

capture() {
    local name=$1 mangling=$2 debug=$3
    local target="$root/target/capture-$name"
    RUSTFLAGS="-C force-frame-pointers=yes -C symbol-mangling-version=$mangling" \
    CARGO_PROFILE_RELEASE_DEBUG=$debug \
        cargo build --release --locked --example collections --target-dir "$target"
    local snap
    snap=$(mktemp)
    HEAPSNAP_SAMPLE_INTERVAL=1 "$target/release/examples/collections" "$snap"
    python3 - "$snap" > "$out/$name.txt" <<'PY'
import json, sys
snap = json.load(open(sys.argv[1]))
stacks = []
for site in snap["sites"]:
    names = [snap["frames"][i]["function"] or "?" for i in snap["stacks"][site["stack"]]]
    cut = next((i for i, n in enumerate(names) if "collections::fill_" in n), None)
    if cut is None:
        continue
    fill = names[cut].split("::")[-1].split("<")[0]
    stacks.append((fill, names[: cut + 1]))
stacks.sort(key=lambda s: (s[0], s[1]))
seen = set()
for fill, names in stacks:
    key = tuple(names)
    if key in seen:
        continue
    seen.add(key)
    print(f"## {fill}")
    print("\n".join(names))
    print()
PY
    rm -f "$snap"
}

capture v0 v0 limited
capture legacy legacy limited
capture line-tables-only legacy line-tables-only
