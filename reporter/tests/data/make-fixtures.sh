#!/usr/bin/env bash
# Regenerates the snapshots the reporter's golden tests read, from real runs
# of the examples, then the expected outputs (HEAPSNAP_BLESS=1).
#
#   snapshots/quickstart.json     examples/quickstart.rs, exact
#   snapshots/collections.json    examples/collections.rs, exact
#   snapshots/ci-base.json        examples/ci_workload.rs, exact
#   snapshots/ci-regression.json  examples/ci_workload.rs --regression, exact
#   snapshots/ci-base-64k.json    the same sampled at 64 KiB (seed 1)
#   snapshots/ci-regression-64k.json
#   snapshots/engine/              examples/engine_per_call.rs, 3 s, 64 KiB,
#                                  a dump every 500 ms (gzipped)
#   snapshots/gateway-fixed/       examples/leaky_server.rs --fixed, the same
#
# snapshots/near-limit/ is kept too: every other snapshot of a run of
# tests/watch_e2e.rs (the leaky server under HEAPSNAP_MEMORY_LIMIT=96MiB)
# and the last three, one a reduced near-limit dump, named with
# `heapsnap symbolize --binary` and its paths made relative.
#
# snapshots/engine-v1/ is the engine series as format version 1 wrote it,
# kept (not regenerated) to show that old snapshots are still read.
#
# Paths under the workspace become relative and the home directory `~`, so
# that no machine's paths are committed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
data="$root/reporter/tests/data"
cd "$root"
cargo build --release --locked --example quickstart --example collections --example ci_workload \
    --example engine_per_call --example leaky_server
examples="$root/target/release/examples"

snap() { # interval output example args...
    local interval=$1 out=$2 example=$3
    shift 3
    HEAPSNAP_SAMPLE_INTERVAL=$interval HEAPSNAP_SEED=1 "$examples/$example" "$data/snapshots/$out" "$@" > /dev/null
}
snap 1 quickstart.json quickstart
snap 1 collections.json collections
snap 1 ci-base.json ci_workload
snap 1 ci-regression.json ci_workload --regression
snap 64KiB ci-base-64k.json ci_workload
snap 64KiB ci-regression-64k.json ci_workload --regression
series() { # output example args...
    local out="$data/snapshots/$1" example=$2
    shift 2
    rm -rf "$out"
    HEAPSNAP_SAMPLE_INTERVAL=64KiB HEAPSNAP_SEED=1 "$examples/$example" \
        --seconds 3 --interval-ms 500 --no-report --dir "$out" "$@" > /dev/null
}
series engine engine_per_call
series gateway-fixed leaky_server --fixed

python3 - "$root" "$HOME" "$data"/snapshots/*.json "$data"/snapshots/*/*.json <<'PY'
import json, sys
root, home, files = sys.argv[1] + "/", sys.argv[2] + "/", sys.argv[3:]
def clean(value):
    if isinstance(value, str):
        return value.replace(root, "").replace(home, "~/")
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    return value
for path in files:
    with open(path) as f:
        snapshot = clean(json.load(f))
    with open(path, "w") as f:
        json.dump(snapshot, f, separators=(",", ":"))
PY
gzip -9 -n "$data"/snapshots/*/*.json

HEAPSNAP_BLESS=1 cargo test --locked -p heapsnap-report --test golden
