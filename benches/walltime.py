#!/usr/bin/env python3
"""Wall time, memory and cache misses on real programs' work, side by side.

Two workloads that no one here wrote, on real input (see
`benches/workloads/src/lib.rs`): serde_json parsing and re-emitting the AWS
API models that botocore ships (50 MB: the newest `service-2.json` of each
service, by name, up to 50 MB), and syn parsing the sources of the tokio
crate this workspace depends on. Every configuration runs the same binary
work (`--ops WORKLOAD PASSES 1`); runs are alternated in a new random
order each round, so that a machine's slow moments fall on every
configuration alike. Reported per configuration: the median wall time of
the process and its spread (min-max), the median ratio to bare jemalloc
over the rounds (each round's run against the same round's jemalloc) with
a 95% bootstrap interval (rounds resampled: how uncertain the machine's
noise leaves that median), and the peak RSS. The best run of each
configuration against jemalloc's best is the figure least disturbed by
the machine. With --callgrind, also instructions and cache misses
(callgrind's cache simulation, one pass).

    python3 benches/walltime.py                    # markdown tables on stdout
    python3 benches/walltime.py --rounds 21 --callgrind
    python3 benches/walltime.py --workloads serde-json --rounds 5

The corpus is prepared in target/bench-corpus/: botocore's data from the
installed Python package if there is one, else `pip download botocore`;
tokio's sources from `cargo metadata`.
"""

import argparse
import gzip
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import callgrind  # noqa: E402  (the bench binaries and jemalloc-prof)

ROOT = callgrind.ROOT
CORPUS = os.path.join(ROOT, "target", "bench-corpus")
JSON_LIMIT = 50_000_000

# (label, build, bench target, environment)
CONFIGS = [
    ("jemalloc", "default", "overhead_jemalloc", {}),
    ("heapsnap off", "default", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "0"}),
    ("heapsnap 512 KiB", "default", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "524288"}),
    ("heapsnap 64 KiB", "default", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "65536"}),
    ("heapsnap exact", "default", "overhead_heapsnap", {"HEAPSNAP_SAMPLE_INTERVAL": "1"}),
    ("jemalloc prof 512 KiB", "prof", None, {"_RJEM_MALLOC_CONF": "prof:true,lg_prof_sample:19"}),
    ("dhat-rs", "default", "overhead_dhat", {}),
]
# Passes over the corpus per run.
PASSES = {"serde-json": 4, "syn": 4}


def botocore_data():
    """botocore's data directory: the installed package's, or a downloaded one's."""
    found = subprocess.run(
        [sys.executable, "-c", "import botocore, os; print(os.path.dirname(botocore.__file__))"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    if found.returncode == 0:
        return os.path.join(found.stdout.strip(), "data")
    download = os.path.join(CORPUS, "download")
    os.makedirs(download, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", download, "botocore"],
                   check=True)
    wheel = next(f for f in os.listdir(download) if f.startswith("botocore") and f.endswith(".whl"))
    with zipfile.ZipFile(os.path.join(download, wheel)) as archive:
        archive.extractall(download)
    return os.path.join(download, "botocore", "data")


def json_corpus():
    """The newest service-2.json of each service, by name, up to 50 MB."""
    out = os.path.join(CORPUS, "json")
    if os.path.isdir(out) and os.listdir(out):
        return out
    data = botocore_data()
    os.makedirs(out, exist_ok=True)
    total = 0
    for service in sorted(os.listdir(data)):
        path = os.path.join(data, service)
        if not os.path.isdir(path):
            continue
        versions = sorted(v for v in os.listdir(path) if os.path.isdir(os.path.join(path, v)))
        if not versions:
            continue
        newest = os.path.join(path, versions[-1])
        for name in ("service-2.json", "service-2.json.gz"):
            source = os.path.join(newest, name)
            if not os.path.exists(source):
                continue
            opener = gzip.open if name.endswith(".gz") else open
            with opener(source, "rb") as f:
                text = f.read()
            if total + len(text) > JSON_LIMIT:
                continue
            total += len(text)
            with open(os.path.join(out, f"{service}.json"), "wb") as f:
                f.write(text)
    print(f"JSON corpus: {len(os.listdir(out))} files, {total / 1e6:.1f} MB", file=sys.stderr)
    return out


def rust_corpus():
    """The sources of the tokio crate this workspace depends on."""
    out = os.path.join(CORPUS, "rust")
    if os.path.isdir(out) and os.listdir(out):
        return out
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
    ).stdout)
    tokio = next(p for p in metadata["packages"] if p["name"] == "tokio")
    source = os.path.join(os.path.dirname(tokio["manifest_path"]), "src")
    shutil.copytree(source, out)
    print(f"Rust corpus: tokio {tokio['version']}", file=sys.stderr)
    return out


def run_once(binary, env, workload, passes):
    """Wall time (s) and peak RSS (bytes) of one run."""
    start = time.perf_counter()
    child = subprocess.Popen([binary, "--ops", workload, str(passes), "1"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    err = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if status != 0:
        sys.exit(f"{binary} {workload} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss * 1024


def cache_misses(binary, env, workload):
    """Instructions, L1 data misses and last-level misses of one pass (callgrind)."""
    with tempfile.NamedTemporaryFile(suffix=".out") as out:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", "--cache-sim=yes", f"--callgrind-out-file={out.name}",
             binary, "--ops", workload, "1", "1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        if result.returncode != 0:
            sys.exit(f"callgrind failed for {binary}:\n{result.stderr[-2000:]}")
        events = summary = None
        with open(out.name) as f:
            for line in f:
                if line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith("summary:") or line.startswith("totals:"):
                    summary = [int(v) for v in line.split()[1:]]
    figures = dict(zip(events, summary))
    return (figures["Ir"], figures.get("D1mr", 0) + figures.get("D1mw", 0),
            figures.get("DLmr", 0) + figures.get("DLmw", 0))


def median_interval(ratios, rng, resamples=2000):
    """A 95% bootstrap interval of the median of `ratios` (rounds resampled)."""
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def mib(n):
    return f"{n / 1048576:.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--workloads", default="serde-json,syn")
    parser.add_argument("--configs", default="", help="labels to run, comma-separated (default: all)")
    parser.add_argument("--callgrind", action="store_true", help="also instructions and cache misses")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus-only", action="store_true",
                        help="fetch the corpora into target/bench-corpus and stop")
    args = parser.parse_args()
    if args.corpus_only:
        print(json_corpus())
        print(rust_corpus())
        return

    binaries = callgrind.build(stats=False)
    corpora = {"serde-json": ("BENCH_JSON_DIR", json_corpus), "syn": ("BENCH_RUST_DIR", rust_corpus)}
    wanted = set(filter(None, args.configs.split(",")))
    configs = [c for c in CONFIGS if not wanted or c[0] in wanted or c[0] == "jemalloc"]
    rng = random.Random(args.seed)
    resampling = random.Random(args.seed)
    cpus = os.cpu_count()
    print(f"cores: {cpus}; {args.rounds} rounds, configurations alternated in a new random order each round")
    for workload in args.workloads.split(","):
        variable, make = corpora[workload]
        base_env = dict(os.environ, HEAPSNAP_SEED=callgrind.SEED, **{variable: make()})
        passes = PASSES[workload]
        walls = {c[0]: [] for c in configs}
        rss = {c[0]: [] for c in configs}
        for round_number in range(args.rounds):
            order = configs[:]
            rng.shuffle(order)
            for label, build_name, target, env in order:
                wall, peak = run_once(binaries[(build_name, target)], dict(base_env, **env), workload, passes)
                walls[label].append(wall)
                rss[label].append(peak)
            print(f"{workload} round {round_number + 1}/{args.rounds} done", file=sys.stderr)
        misses = {}
        if args.callgrind:
            for label, build_name, target, env in configs:
                misses[label] = cache_misses(binaries[(build_name, target)], dict(base_env, **env), workload)
                print(f"{workload} {label}: callgrind done", file=sys.stderr)
        print()
        print(f"### {workload} ({passes} passes over the corpus per run)")
        print()
        columns = ("| configuration | wall time, median | min-max | vs jemalloc, median (min-max) "
                   "| median's 95% interval | vs jemalloc, best of each | peak RSS |")
        if args.callgrind:
            columns += " instructions (1 pass) | L1 data misses | last-level misses |"
        print(columns)
        print("|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if args.callgrind else ""))
        base = walls["jemalloc"]
        for label, *_ in configs:
            ratios = [w / b for w, b in zip(walls[label], base)]
            cells = [
                f"{statistics.median(walls[label]):.3f} s",
                f"{min(walls[label]):.3f}-{max(walls[label]):.3f} s",
                f"{statistics.median(ratios):.3f}x ({min(ratios):.2f}-{max(ratios):.2f})",
                "{:.3f}-{:.3f}x".format(*median_interval(ratios, resampling)),
                f"{min(walls[label]) / min(base):.3f}x",
                mib(statistics.median(rss[label])),
            ]
            if args.callgrind:
                ir, d1, ll = misses[label]
                bir, bd1, bll = misses["jemalloc"]
                cells += [f"{ir / 1e6:,.0f}M ({ir / bir:.3f}x)", f"{d1 / 1e6:,.1f}M ({d1 / bd1:.2f}x)",
                          f"{ll / 1e6:,.2f}M ({ll / max(bll, 1):.2f}x)"]
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
