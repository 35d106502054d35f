#!/usr/bin/env python3
"""Instructions per operation of every allocator configuration, side by side.

Runs each bench binary under `valgrind --tool=callgrind` in driver mode
(`--ops WORKLOAD N THREADS`) twice, with N and 2N operations per thread, and
reports (I(2N) - I(N)) / (N * THREADS): the instructions of one operation,
with start-up and shutdown cancelled out. Instruction counts are repeatable
for the same binary and input, whatever else the machine is doing.

    python3 benches/callgrind.py            # markdown table on stdout
    python3 benches/callgrind.py --quick    # smaller N, for a rough look

It builds what it needs: `cargo bench --no-run` for the workspace's bench
binaries and `benches/jemalloc-prof` (jemalloc's own profiler) on its own.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = "12345"

# (label, bench target or None for jemalloc-prof, extra environment,
#  operations per thread for small-objects and for mixed)
CONFIGS = [
    ("jemalloc", "overhead_jemalloc", {}, 200_000, 2_000),
    ("heapsnap off", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "0"}, 200_000, 2_000),
    ("heapsnap 512 KiB", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "524288"}, 200_000, 2_000),
    ("heapsnap 64 KiB", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "65536"}, 200_000, 2_000),
    ("heapsnap exact", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "1"}, 20_000, 200),
    ("heapsnap System 512 KiB", "overhead_heapsnap_system", {"HEAPSNAP_SAMPLE_INTERVAL": "524288"}, 200_000, 2_000),
    ("System (glibc)", "overhead_system", {}, 200_000, 2_000),
    ("jemalloc prof 512 KiB", None, {"_RJEM_MALLOC_CONF": "prof:true,lg_prof_sample:19"}, 200_000, 2_000),
    ("dhat-rs", "overhead_dhat", {}, 10_000, 100),
]
WORKLOADS = ["small-objects", "mixed"]
THREADS = [1, 2]


def build():
    """Builds the bench binaries; returns {target name: executable}."""
    out = subprocess.run(
        ["cargo", "bench", "--locked", "--no-run", "--message-format=json"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    binaries = {}
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and "bench" in msg["target"]["kind"]:
            binaries[msg["target"]["name"]] = msg["executable"]
    prof_dir = os.path.join(ROOT, "benches", "jemalloc-prof")
    subprocess.run(["cargo", "build", "--release", "--locked"], cwd=prof_dir, check=True)
    binaries[None] = os.path.join(prof_dir, "target", "release", "jemalloc-prof")
    return binaries


def instructions(binary, env, workload, ops, threads):
    """Total instructions of one run under callgrind."""
    run_env = dict(os.environ, HEAPSNAP_SEED=SEED, **env)
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         binary, "--ops", workload, str(ops), str(threads)],
        env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or not match:
        sys.exit(f"callgrind failed for {binary} {workload}:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def per_op(binary, env, workload, ops, threads):
    low = instructions(binary, env, workload, ops, threads)
    high = instructions(binary, env, workload, 2 * ops, threads)
    return (high - low) / (ops * threads)


def main():
    quick = "--quick" in sys.argv
    binaries = build()
    results = {}
    for label, target, env, small_ops, mixed_ops in CONFIGS:
        for workload in WORKLOADS:
            ops = small_ops if workload == "small-objects" else mixed_ops
            if quick:
                ops = max(ops // 10, 10)
            for threads in THREADS:
                value = per_op(binaries[target], env, workload, ops, threads)
                results[(label, workload, threads)] = value
                print(f"{label:>26} {workload:>14} {threads}T: {value:12.1f} instr/op", file=sys.stderr)

    columns = [(w, t) for w in WORKLOADS for t in THREADS]
    header = "| configuration | " + " | ".join(f"{w}, {t} thread{'s' if t > 1 else ''}" for w, t in columns) + " |"
    print(header)
    print("|---|" + "---:|" * len(columns))
    for label, *_ in CONFIGS:
        cells = []
        for w, t in columns:
            value = results[(label, w, t)]
            base = results[("jemalloc", w, t)]
            cells.append(f"{value:,.0f} ({value / base:.3f}x)")
        print(f"| {label} | " + " | ".join(cells) + " |")
    sample = results[("heapsnap exact", "small-objects", 1)] - results[("heapsnap off", "small-objects", 1)]
    dhat = results[("dhat-rs", "small-objects", 1)]
    exact = results[("heapsnap exact", "small-objects", 1)]
    print()
    print(f"One sample (stack walk of {24 + 8}+ frames, record, and the free of a sampled block): "
          f"{sample:,.0f} instructions.")
    print(f"Exact mode vs dhat-rs, small objects: {dhat / exact:.1f}x fewer instructions.")


if __name__ == "__main__":
    main()
