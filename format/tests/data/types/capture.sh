#!/usr/bin/env bash
# Regenerates the frame fixtures of the type-inference tests: builds
# examples/collections.rs three ways, runs it in exact mode, and writes, for
# every site, its frames (innermost first) up to the `fill_*` function that
# allocated: the function name, a tab, and the source file (the standard
# library's from `library/`, the program's as a bare file name).
#
#   v0.txt                 v0 mangling, debug = "limited" (the recommended build)
#   legacy.txt             legacy mangling (the stable default), debug = "limited"
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
    # Legacy mangling is the default; it cannot be asked for on stable Rust.
    local flags="-C force-frame-pointers=yes"
    [ "$mangling" = v0 ] && flags="$flags -C symbol-mangling-version=v0"
    RUSTFLAGS="$flags" \
    CARGO_PROFILE_RELEASE_DEBUG=$debug \
        cargo build --release --locked --example collections --target-dir "$target"
    local snap
    snap=$(mktemp)
    HEAPSNAP_SAMPLE_INTERVAL=1 "$target/release/examples/collections" "$snap"
    python3 - "$snap" > "$out/$name.txt" <<'PY'
import json, re, sys
snap = json.load(open(sys.argv[1]))
# `collections::fill_vec`, or plain `fill_vec` with line-tables-only names.
fill_frame = re.compile(r"^(collections::)?fill_\w+$")
def short(path):
    if not path:
        return "?"
    for marker in ("/library/", "/hashbrown-"):
        if marker in path:
            return path[path.index(marker) + 1 :]
    return path.rsplit("/", 1)[-1]
stacks = []
for site in snap["sites"]:
    frames = [snap["frames"][i] for i in snap["stacks"][site["stack"]]]
    names = [f["function"] or "?" for f in frames]
    cut = next((i for i, n in enumerate(names) if fill_frame.match(n)), None)
    if cut is None:
        continue
    fill = names[cut].split("::")[-1].split("<")[0]
    lines = [f"{n}\t{short(f['file'])}" for n, f in zip(names[: cut + 1], frames)]
    stacks.append((fill, lines))
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

[ "${1:-all}" = all ] || [ "${1:-}" = v0 ] && capture v0 v0 limited
[ "${1:-all}" = all ] || [ "${1:-}" = legacy ] && capture legacy default limited
[ "${1:-all}" = all ] || [ "${1:-}" = line-tables-only ] && capture line-tables-only default line-tables-only
