//! The leak analysis, evaluated on randomized server scenarios run as real
//! programs (`benches/scenarios`): how often the leak is the first suspect,
//! named by its holder, and how often something healthy is called a leak.
//!
//! ```text
//! cargo bench --bench leak_eval -- [--runs 400] [--jobs 2] [--seed 1] [--out target/leak-eval]
//! cargo bench --bench leak_eval -- --tables OUT/outcomes.jsonl
//! ```
//!
//! `--tables` prints the tables of the runs an earlier evaluation finished
//! (all of them, or those done before it was stopped).
//!
//! Each run draws a plan (`Plan::random`): sampling interval (512 KiB,
//! 64 KiB or exact), length, snapshot schedule (even, random, or automatic
//! dumps on growth), a teardown snapshot or not, a leak or none (its kind,
//! rate and share), and healthy parts. The tables go to standard output and
//! `OUT/results.md`; every run's plan and outcome to `OUT/outcomes.jsonl`.
//! Nothing here is tuned to: the plans are drawn, not chosen.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use heapsnap_scenarios::plan::Plan;
use heapsnap_scenarios::run;
use heapsnap_scenarios::score::Outcome;

struct Args {
    runs: usize,
    jobs: usize,
    seed: u64,
    out: PathBuf,
    /// Run only this one (its directory is kept, and its report printed).
    only: Option<usize>,
    /// Print the tables of these outcomes instead of running.
    tables: Option<PathBuf>,
}

fn args() -> Args {
    let mut args = Args {
        runs: 400,
        jobs: 2,
        seed: 1,
        out: PathBuf::from("target/leak-eval"),
        only: None,
        tables: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match arg.as_str() {
            "--runs" => args.runs = value().parse().expect("--runs N"),
            "--jobs" => args.jobs = value().parse().expect("--jobs N"),
            "--seed" => args.seed = value().parse().expect("--seed N"),
            "--out" => args.out = PathBuf::from(value()),
            "--only" => args.only = Some(value().parse().expect("--only N")),
            "--tables" => args.tables = Some(PathBuf::from(value())),
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    args
}

fn main() {
    let args = args();
    if let Some(path) = &args.tables {
        let text = std::fs::read_to_string(path).expect("the outcomes file");
        let outcomes: Vec<Outcome> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("an outcome per line"))
            .collect();
        println!("{}", tables(&outcomes, args.seed));
        return;
    }
    let binary = run::build();
    if let Some(i) = args.only {
        let plan = Plan::random(args.seed.wrapping_mul(1_000_003) + i as u64);
        let dir = args.out.join(format!("only-{i}"));
        let truth = run::run(&binary, &plan, &dir).expect("the run");
        let (report, outcome) = run::analyse(&dir, &truth).expect("the analysis");
        let mut text = Vec::new();
        heapsnap_report::render::text::leaks(&report, &mut text).expect("the report");
        println!(
            "{}\n{}\n{}",
            serde_json::to_string_pretty(&plan).unwrap_or_default(),
            String::from_utf8_lossy(&text),
            describe(&outcome)
        );
        return;
    }
    std::fs::create_dir_all(&args.out).expect("the output directory");
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let log = Mutex::new(
        std::fs::File::create(args.out.join("outcomes.jsonl")).expect("the outcomes file"),
    );
    std::thread::scope(|scope| {
        for job in 0..args.jobs {
            let (binary, outcomes, next, log, args) = (&binary, &outcomes, &next, &log, &args);
            scope.spawn(move || {
                let dir = args.out.join(format!("run-{job}"));
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= args.runs {
                        return;
                    }
                    let plan = Plan::random(args.seed.wrapping_mul(1_000_003) + i as u64);
                    let outcome = run::run(binary, &plan, &dir)
                        .and_then(|truth| run::analyse(&dir, &truth).map(|(_, o)| o));
                    match outcome {
                        Ok(outcome) => {
                            let line = serde_json::to_string(&outcome).unwrap_or_default();
                            let _ = writeln!(log.lock().unwrap(), "{line}");
                            eprintln!("run {i}: {}", describe(&outcome));
                            outcomes.lock().unwrap().push(outcome);
                        }
                        Err(err) => eprintln!("run {i}: failed: {err}"),
                    }
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    let tables = tables(&outcomes, args.seed);
    println!("{tables}");
    std::fs::write(args.out.join("results.md"), tables).expect("the results file");
}

fn describe(o: &Outcome) -> String {
    let leak = match &o.plan.leak {
        Some(leak) => format!(
            "{} ({:.0} intervals): {}",
            leak.kind.name(),
            o.growth_intervals,
            if o.first_named {
                "named first"
            } else if o.found {
                "found, not named first"
            } else {
                "missed"
            }
        ),
        None => "no leak".into(),
    };
    format!(
        "interval {}, {} snapshots over {:.1} s; {leak}; {} false suspects{}",
        interval_name(o.plan.interval),
        o.snapshots,
        o.window_s,
        o.false_suspects.len(),
        if o.still_filling.is_empty() {
            String::new()
        } else {
            format!(", {} still filling", o.still_filling.len())
        }
    )
}

fn interval_name(interval: u64) -> &'static str {
    match interval {
        1 => "exact",
        65_536 => "64 KiB",
        _ => "512 KiB",
    }
}

/// A rate with its count and the 95% Wilson interval's lower bound:
/// `97.5% (39/40, >= 87.1%)`.
fn rate(hits: usize, of: usize) -> String {
    if of == 0 {
        return "-".into();
    }
    let (n, p) = (of as f64, hits as f64 / of as f64);
    let z: f64 = 1.96;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let low = (centre - spread) / (1.0 + z * z / n);
    format!(
        "{:.1}% ({hits}/{of}, >= {:.1}%)",
        100.0 * p,
        100.0 * low.max(0.0)
    )
}

fn growth_bin(intervals: f64) -> &'static str {
    match intervals {
        g if g < 10.0 => "< 10",
        g if g < 20.0 => "10-20",
        g if g < 40.0 => "20-40",
        _ => ">= 40",
    }
}

const SNAPSHOT_BINS: [(&str, std::ops::Range<usize>); 3] = [
    ("< 10", 0..10),
    ("10-19", 10..20),
    (">= 20", 20..usize::MAX),
];

const WINDOW_BINS: [(&str, f64, f64); 3] = [
    ("< 7 s", 0.0, 7.0),
    ("7-10 s", 7.0, 10.0),
    (">= 10 s", 10.0, f64::MAX),
];

/// Two tables of the share of `runs` that are `good`: by snapshot count,
/// and by window length.
fn by_snapshots_and_window(runs: &[&Outcome], what: &str, good: fn(&Outcome) -> bool) -> String {
    let row = |label: &str, selected: Vec<&&Outcome>| {
        let count = selected.iter().filter(|o| good(o)).count();
        format!("| {label} | {} |\n", rate(count, selected.len()))
    };
    let mut out = format!("| snapshots | {what} |\n|---|---:|\n");
    for (label, range) in SNAPSHOT_BINS {
        out += &row(
            label,
            runs.iter()
                .filter(|o| range.contains(&o.snapshots))
                .collect(),
        );
    }
    out += &format!("\n| window | {what} |\n|---|---:|\n");
    for (label, low, high) in WINDOW_BINS {
        out += &row(
            label,
            runs.iter()
                .filter(|o| o.window_s >= low && o.window_s < high)
                .collect(),
        );
    }
    out
}

fn tables(outcomes: &[Outcome], seed: u64) -> String {
    let mut out = String::new();
    let leaks: Vec<&Outcome> = outcomes.iter().filter(|o| o.plan.leak.is_some()).collect();
    let healthy: Vec<&Outcome> = outcomes.iter().filter(|o| o.plan.leak.is_none()).collect();
    out += &format!(
        "{} runs (seed {seed}): {} with a leak, {} healthy\n\n",
        outcomes.len(),
        leaks.len(),
        healthy.len()
    );
    out += "Leaks of at least 20 sampling intervals over at least 10 snapshots, \
            first suspect named by its holder:\n\n";
    out += "| interval | named first | found | runs with a false suspect |\n|---|---:|---:|---:|\n";
    for interval in [524_288, 65_536, 1] {
        let runs: Vec<&&Outcome> = leaks
            .iter()
            .filter(|o| {
                o.plan.interval == interval && o.growth_intervals >= 20.0 && o.snapshots >= 10
            })
            .collect();
        out += &format!(
            "| {} | {} | {} | {} |\n",
            interval_name(interval),
            rate(runs.iter().filter(|o| o.first_named).count(), runs.len()),
            rate(runs.iter().filter(|o| o.found).count(), runs.len()),
            rate(
                runs.iter().filter(|o| !o.false_suspects.is_empty()).count(),
                runs.len()
            ),
        );
    }
    out += "\nHealthy runs with no false suspect:\n\n| interval | no false suspect |\n|---|---:|\n";
    for interval in [524_288, 65_536, 1] {
        let runs: Vec<&&Outcome> = healthy
            .iter()
            .filter(|o| o.plan.interval == interval)
            .collect();
        out += &format!(
            "| {} | {} |\n",
            interval_name(interval),
            rate(
                runs.iter().filter(|o| o.false_suspects.is_empty()).count(),
                runs.len()
            )
        );
    }
    out += "\nHealthy runs with no false suspect, by snapshots and by window:\n\n";
    out += &by_snapshots_and_window(&healthy, "no false suspect", |o| {
        o.false_suspects.is_empty()
    });
    let filling: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.still_filling.is_empty())
        .collect();
    out += &format!(
        "\nSuspects of healthy parts still filling in the later half of the window (growing \
         there for real, counted apart from false suspects): {} in {} runs.\n",
        filling.iter().map(|o| o.still_filling.len()).sum::<usize>(),
        filling.len()
    );
    out += "\nLeaks named first, by growth (sampling intervals over the window) and interval:\n\n";
    out += "| growth | 512 KiB | 64 KiB | exact |\n|---|---:|---:|---:|\n";
    for bin in ["< 10", "10-20", "20-40", ">= 40"] {
        let cell = |interval: u64| {
            let runs: Vec<&&Outcome> = leaks
                .iter()
                .filter(|o| o.plan.interval == interval && growth_bin(o.growth_intervals) == bin)
                .collect();
            rate(runs.iter().filter(|o| o.first_named).count(), runs.len())
        };
        out += &format!(
            "| {bin} | {} | {} | {} |\n",
            cell(524_288),
            cell(65_536),
            cell(1)
        );
    }
    out += "\nLeaks of at least 20 intervals named first, by snapshots and by window:\n\n";
    let big: Vec<&Outcome> = leaks
        .iter()
        .copied()
        .filter(|o| o.growth_intervals >= 20.0)
        .collect();
    out += &by_snapshots_and_window(&big, "named first", |o| o.first_named);
    out += "\nBy leak kind (at least 20 intervals, at least 10 snapshots):\n\n";
    out += "| leak | named first | found |\n|---|---:|---:|\n";
    let mut by_kind: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in &leaks {
        if o.growth_intervals >= 20.0 && o.snapshots >= 10 {
            by_kind
                .entry(o.plan.leak.as_ref().map_or("", |l| l.kind.name()))
                .or_default()
                .push(o);
        }
    }
    for (kind, runs) in &by_kind {
        out += &format!(
            "| {kind} | {} | {} |\n",
            rate(runs.iter().filter(|o| o.first_named).count(), runs.len()),
            rate(runs.iter().filter(|o| o.found).count(), runs.len())
        );
    }
    out += "\nFalse suspects by healthy part (all runs, each suspect counted once):\n\n";
    let mut by_part: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        for suspect in &o.false_suspects {
            let part = suspect
                .strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
                .map_or("?", |(part, _)| part);
            *by_part.entry(part.to_owned()).or_default() += 1;
        }
    }
    out += "| part | false suspects |\n|---|---:|\n";
    for (part, n) in by_part {
        out += &format!("| {part} | {n} |\n");
    }
    out
}
