#!/usr/bin/env python3
"""The leak analysis in the field: services built from published crates.

Each program of benches/field (a small axum service from a one-paragraph
description of a real leak, with a healthy twin under --fixed) runs with
automatic dumps every 500 ms, as a user would run it (HEAPSNAP_DIR set),
at each sampling interval and seed, built two ways: with the README's
settings (frame pointers, v0 symbol names, line tables) and with a plain
`cargo build --release`. Then `heapsnap leaks DIR --format json` judges
the run:

- a leak run is *named first* when the first suspect is the holder the
  program's description names: its function and, on a README build, its
  type (the expectations below were written with the programs, before
  any evaluation);
- it *counts* toward the rate when the program's own count of what its
  bug kept is at least 20 sampling intervals and the analysis had 10
  snapshots or more;
- a healthy run is *clean* when it has no suspect.

The table (per program and interval, and in all with 95% Wilson bounds)
goes to OUT/table.md, every run's outcome to OUT/outcomes.jsonl.

    python3 benches/field_eval.py --out target/field-eval
    python3 benches/field_eval.py --root /path/to/other/checkout --out ...
    python3 benches/field_eval.py --rejudge target/field-eval --out target/field-rejudged
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

# What each program's bug is, and the holder a person must fix: the
# function the report names (its innermost frame of the program) and,
# with v0 names, its type. Written with the programs.
PROGRAMS = {
    "sessions": ("map of std values", r"SessionStore>?::open\b", r"^HashMap<u64, Vec<u8>>$"),
    "rate_limiter": ("map of std values", r"RateLimiter>?::check\b", r"HashMap<String, .*Bucket"),
    "event_bus": ("list of closures", r"EventBus>?::subscribe\b", r"^Vec<\(u64, Box<dyn"),
    "plugin_reload": ("list of trait objects", r"Registry>?::install\b", r"^Vec<Arc<dyn"),
    "tenant_docs": ("map of maps", r"DocCache>?::store\b", r"HashMap<String, (HashMap<String, )?Vec<u8>>"),
    "room_registry": ("map of maps", r"Rooms>?::join\b", r"HashMap<u64, Member>"),
    "label_cardinality": ("label cardinality", r"record_request\b", r"HashMap<u64, .*(Counter|Gauge)"),
    "path_histograms": ("label cardinality", r"observe_latency\b", r"HashMap<u64, .*Histogram"),
    "stuck_tasks": ("tasks that never finish", r"(subscribe|forward_messages)\b", r"forward_messages"),
    "retry_tasks": ("tasks that never finish", r"(deliver|retry_delivery)\b", r"retry_delivery"),
    "log_backlog": ("channel backlog", r"log_request\b", r"Block<.*Value"),
    "upload_queue": ("channel backlog", r"enqueue_upload\b", r"Block<.*Bytes"),
    "response_cache": ("cache without eviction", r"ResponseCache>?::put\b", r"HashMap<String, Arc<.*Value>>"),
    "thumbnails": ("cache without eviction", r"Thumbnails>?::insert\b", r"LruEntry|HashMap<KeyRef"),
}

INTERVALS = {"512KiB": 512 * 1024, "64KiB": 64 * 1024, "exact": 1}

BUILDS = {
    # The README's settings: frame pointers, v0 names, line tables.
    "readme": {
        "RUSTFLAGS": "-C force-frame-pointers=yes -C symbol-mangling-version=v0",
        "CARGO_PROFILE_RELEASE_DEBUG": "limited",
    },
    # `cargo build --release` as it comes (the repository's own
    # .cargo/config.toml overridden).
    "plain": {"RUSTFLAGS": "", "CARGO_PROFILE_RELEASE_DEBUG": "false"},
}


def wilson(k, n, z=1.96):
    """The 95% Wilson interval of k successes in n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def build(root, name, env_extra):
    target = root / "target" / f"field-{name}"
    env = dict(os.environ, CARGO_TARGET_DIR=str(target), **env_extra)
    subprocess.run(
        ["cargo", "build", "--release", "--quiet"],
        cwd=root / "benches" / "field",
        env=env,
        check=True,
    )
    return target / "release"


def heapsnap_cli(root):
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "heapsnap-report", "--bin", "heapsnap"],
        cwd=root,
        check=True,
    )
    return root / "target" / "release" / "heapsnap"


def run_one(cli, binaries, out, build_name, program, fixed, interval_name, seed, seconds, drain):
    run_dir = out / "runs" / build_name / f"{program}-{'fixed' if fixed else 'leak'}-{interval_name}-s{seed}"
    if run_dir.exists():
        for f in run_dir.iterdir():
            f.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        HEAPSNAP_DIR=str(run_dir),
        HEAPSNAP_DUMP_INTERVAL="500ms",
        HEAPSNAP_SAMPLE_INTERVAL=str(INTERVALS[interval_name]),
        HEAPSNAP_SEED=str(seed),
    )
    args = [str(binaries / program), "--seed", str(seed), "--seconds", str(seconds), "--drain", str(drain)]
    if fixed:
        args.append("--fixed")
    started = time.time()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    leaked = 0
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            leaked = json.loads(line).get("leaked_bytes", 0)
    outcome = {
        "build": build_name,
        "program": program,
        "kind": PROGRAMS[program][0],
        "fixed": fixed,
        "interval": interval_name,
        "seed": seed,
        "exit": proc.returncode,
        "leaked_bytes": leaked,
        "seconds": round(time.time() - started, 1),
    }
    return judge(cli, run_dir, outcome)


def run_dir_of(out, outcome):
    """Where the run of `outcome` left its dumps under `out`."""
    label = f"{outcome['program']}-{'fixed' if outcome['fixed'] else 'leak'}-{outcome['interval']}-s{outcome['seed']}"
    return out / "runs" / outcome["build"] / label


def judge(cli, run_dir, outcome):
    """`outcome` with the verdict of `heapsnap leaks` on the dumps in `run_dir`."""
    outcome = dict(outcome)
    analysis = subprocess.run(
        [str(cli), "leaks", str(run_dir), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(analysis.stdout)
    except json.JSONDecodeError:
        outcome["error"] = (analysis.stderr or analysis.stdout)[-300:]
        return outcome
    suspects = report.get("suspects", [])
    outcome["snapshots"] = report.get("snapshots", 0)
    outcome["suspects"] = [
        {k: s.get(k) for k in ("type", "function", "confidence", "live_bytes")} for s in suspects[:3]
    ]
    _, function_re, type_re = PROGRAMS[outcome["program"]]
    if outcome["fixed"]:
        outcome["clean"] = not suspects
    else:
        eligible_bytes = 20 * max(INTERVALS[outcome["interval"]], 1)
        outcome["eligible"] = outcome["leaked_bytes"] >= eligible_bytes and outcome["snapshots"] >= 10
        first = suspects[0] if suspects else None
        function_ok = bool(first and re.search(function_re, first.get("function") or ""))
        type_ok = bool(first and re.search(type_re, first.get("type") or ""))
        outcome["function_first"] = function_ok
        outcome["named_first"] = function_ok and (type_ok or outcome["build"] == "plain")
    return outcome


def table(outcomes):
    lines = []
    builds = sorted({o["build"] for o in outcomes}, key=lambda b: list(BUILDS).index(b))
    for build_name in builds:
        mine = [o for o in outcomes if o["build"] == build_name]
        lines.append(f"\n### {build_name} build\n")
        header = "| program | kind | " + " | ".join(
            f"{i} named first | {i} healthy clean" for i in INTERVALS
        ) + " |"
        lines.append(header)
        lines.append("|" + "---|" * (2 + 2 * len(INTERVALS)))
        for program, (kind, _, _) in PROGRAMS.items():
            cells = []
            for interval in INTERVALS:
                leak = [o for o in mine if o["program"] == program and o["interval"] == interval and not o["fixed"]]
                counted = [o for o in leak if o.get("eligible")]
                named = sum(o.get("named_first", False) for o in counted)
                healthy = [o for o in mine if o["program"] == program and o["interval"] == interval and o["fixed"]]
                clean = sum(o.get("clean", False) for o in healthy)
                cells.append(f"{named}/{len(counted)}" + (f" ({len(leak) - len(counted)} short)" if len(leak) > len(counted) else ""))
                cells.append(f"{clean}/{len(healthy)}")
            if any(o["program"] == program for o in mine):
                lines.append(f"| {program} | {kind} | " + " | ".join(cells) + " |")
        cells = []
        for interval in INTERVALS:
            counted = [o for o in mine if o["interval"] == interval and not o["fixed"] and o.get("eligible")]
            named = sum(o.get("named_first", False) for o in counted)
            lo, _ = wilson(named, len(counted))
            healthy = [o for o in mine if o["interval"] == interval and o["fixed"]]
            clean = sum(o.get("clean", False) for o in healthy)
            hlo, _ = wilson(clean, len(healthy))
            cells.append(f"**{named}/{len(counted)}** (≥{lo:.0%})")
            cells.append(f"**{clean}/{len(healthy)}** (≥{hlo:.0%})")
        lines.append("| all | | " + " | ".join(cells) + " |")
        counted = [o for o in mine if not o["fixed"] and o.get("eligible")]
        named = sum(o.get("named_first", False) for o in counted)
        function = sum(o.get("function_first", False) for o in counted)
        healthy = [o for o in mine if o["fixed"]]
        clean = sum(o.get("clean", False) for o in healthy)
        lo, _ = wilson(named, len(counted))
        flo, _ = wilson(function, len(counted))
        hlo, _ = wilson(clean, len(healthy))
        lines.append(
            f"\nIn all: holder named first {named}/{len(counted)} (Wilson ≥{lo:.1%}); "
            f"its function first {function}/{len(counted)} (≥{flo:.1%}); "
            f"healthy runs clean {clean}/{len(healthy)} (≥{hlo:.1%})."
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="the checkout to build and judge")
    parser.add_argument("--out", default="target/field-eval")
    parser.add_argument("--programs", default=",".join(PROGRAMS))
    parser.add_argument("--intervals", default=",".join(INTERVALS))
    parser.add_argument("--builds", default=",".join(BUILDS))
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--drain", type=float, default=3)
    parser.add_argument("--table-only", action="store_true", help="rebuild the table from OUT/outcomes.jsonl")
    parser.add_argument(
        "--rejudge",
        metavar="DIR",
        help="judge the runs recorded in DIR (an earlier --out) with ROOT's reporter, into OUT: the analysis before and after a change, on the same dumps",
    )
    args = parser.parse_args()
    root = Path(args.root).resolve()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "outcomes.jsonl"
    if args.table_only:
        outcomes = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        (out / "table.md").write_text(table(outcomes))
        print(table(outcomes))
        return
    cli = heapsnap_cli(root)
    if args.rejudge:
        recorded = Path(args.rejudge).resolve()
        before = [json.loads(line) for line in (recorded / "outcomes.jsonl").read_text().splitlines() if line.strip()]
        after = [judge(cli, run_dir_of(recorded, o), o) for o in before]
        results.write_text("".join(json.dumps(o) + "\n" for o in after))
        keys = ("named_first", "function_first", "clean")
        changed = [(b, a) for b, a in zip(before, after) if any(b.get(k) != a.get(k) for k in keys)]
        (out / "table.md").write_text(table(after))
        print(table(after))
        print(f"verdicts changed from {recorded}: {len(changed)}")
        for b, a in changed:
            print(" ", run_dir_of(recorded, b).name, {k: (b.get(k), a.get(k)) for k in keys if b.get(k) != a.get(k)})
        return
    outcomes = []
    for build_name in args.builds.split(","):
        binaries = build(root, build_name, BUILDS[build_name])
        for seed in [int(s) for s in args.seeds.split(",")]:
            for interval in args.intervals.split(","):
                for program in args.programs.split(","):
                    for fixed in (False, True):
                        outcome = run_one(cli, binaries, out, build_name, program, fixed, interval, seed, args.seconds, args.drain)
                        outcomes.append(outcome)
                        with results.open("a") as f:
                            f.write(json.dumps(outcome) + "\n")
                        verdict = (
                            ("clean" if outcome.get("clean") else "SUSPECT")
                            if fixed
                            else ("named" if outcome.get("named_first") else "missed")
                            + ("" if outcome.get("eligible") else " (short)")
                        )
                        first = (outcome.get("suspects") or [{}])[0]
                        print(
                            f"{build_name} {program} {'fixed' if fixed else 'leak'} {interval} s{seed}: {verdict}"
                            f" [{first.get('type')} @ {first.get('function')}]",
                            flush=True,
                        )
    (out / "table.md").write_text(table(outcomes))
    print(table(outcomes))


if __name__ == "__main__":
    sys.exit(main())
