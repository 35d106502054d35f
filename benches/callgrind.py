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

# (label, build, bench target, extra environment, operations per thread for
#  small-objects and for mixed). Builds: "default"; "stats", the same with
#  jemalloc's statistics compiled in (`--features jemalloc-stats`); "prof",
#  benches/jemalloc-prof.
CONFIGS = [
    ("jemalloc", "default", "overhead_jemalloc", {}, 200_000, 2_000),
    ("heapsnap off", "default", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "0"}, 200_000, 2_000),
    ("heapsnap 512 KiB", "default", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "524288"}, 200_000, 2_000),
    ("heapsnap 64 KiB", "default", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "65536"}, 200_000, 2_000),
    ("heapsnap exact", "default", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "1"}, 20_000, 200),
    ("heapsnap System 512 KiB", "default", "overhead_heapsnap_system", {"HEAPSNAP_SAMPLE_INTERVAL": "524288"}, 200_000, 2_000),
    ("System (glibc)", "default", "overhead_system", {}, 200_000, 2_000),
    ("jemalloc + stats", "stats", "overhead_jemalloc", {}, 200_000, 2_000),
    ("heapsnap 512 KiB + stats", "stats", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "524288"}, 200_000, 2_000),
    ("jemalloc prof 512 KiB", "prof", None, {"_RJEM_MALLOC_CONF": "prof:true,lg_prof_sample:19"}, 200_000, 2_000),
    ("dhat-rs", "default", "overhead_dhat", {}, 10_000, 100),
]
WORKLOADS = ["small-objects", "mixed"]
THREADS = [1, 2]


def bench_binaries(extra_args):
    """Builds the workspace's bench binaries; returns {target: executable}."""
    out = subprocess.run(
        ["cargo", "bench", "--locked", "--no-run", "--message-format=json", *extra_args],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    binaries = {}
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and "bench" in msg["target"]["kind"]:
            binaries[msg["target"]["name"]] = msg["executable"]
    return binaries


def build(stats=True):
    """Builds everything (the `stats` build only when asked); returns
    {(build, target): executable}."""
    binaries = {}
    builds = [("default", [])]
    if stats:
        builds.append(("stats", ["--features", "jemalloc-stats", "--target-dir", "target/bench-stats"]))
    for name, args in builds:
        for target, path in bench_binaries(args).items():
            binaries[(name, target)] = path
    prof_dir = os.path.join(ROOT, "benches", "jemalloc-prof")
    subprocess.run(["cargo", "build", "--release", "--locked"], cwd=prof_dir, check=True)
    binaries[("prof", None)] = os.path.join(prof_dir, "target", "release", "jemalloc-prof")
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
    for label, build_name, target, env, small_ops, mixed_ops in CONFIGS:
        for workload in WORKLOADS:
            ops = small_ops if workload == "small-objects" else mixed_ops
            if quick:
                ops = max(ops // 10, 10)
            for threads in THREADS:
                value = per_op(binaries[(build_name, target)], env, workload, ops, threads)
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
    print()
    print(f"- One sample (a stack walk of about 35 frames, recording it, and later freeing the "
          f"sampled block): {sample:,.0f} instructions.")
    for workload in WORKLOADS:
        base = results[("jemalloc", workload, 1)]
        dhat = results[("dhat-rs", workload, 1)]
        exact = results[("heapsnap exact", workload, 1)]
        print(f"- Exact mode vs dhat-rs, {workload}: {(dhat - base) / (exact - base):.1f}x less overhead "
              f"(instructions added to bare jemalloc), {dhat / exact:.1f}x fewer instructions in all.")


if __name__ == "__main__":
    main()
