//! End to end, each way `heapsnap leaks` used to fail on servers it was not
//! tuned for: a scenario server (`src/main.rs`, built from published
//! crates) runs with the profiler, writes its snapshots, and the `heapsnap`
//! command reads them as a user would.
//!
//! By default each case is judged on a recorded run (`tests/data/defects/`,
//! captured from the scenario once, frames named): the analysis gets the
//! same series every time, so its verdict does not depend on how busy the
//! machine is. `HEAPSNAP_DEFECTS=live` runs the scenarios instead, three
//! times each with different seeds, and every run must pass: a lucky pass
//! does not count. `HEAPSNAP_DEFECTS=record` runs them live and records
//! each case's runs of the first seed as its fixtures, judged as they are
//! recorded.
//!
//! The leaks here grow `CLEAR` sampling intervals over 12 snapshots or
//! more, several times the detection limit `docs/LEAKS.md` gives, so that a
//! failure is a defect and not the sampler's luck (at 40–50 intervals over
//! 5 s, one run in a few dozen still came out below 99%: that is the
//! evaluation's business, `benches/leak_eval.rs`, not these tests'). The
//! tests run one at a time, analyses included: each scenario paces itself
//! by the clock, and anything beside it on two cores would make it another
//! scenario than the one planned.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use heapsnap_report::leaks::{Note, Report, Suspect};
use heapsnap_scenarios::plan::{Healthy, Leak, LeakKind, Plan, Schedule};
use heapsnap_scenarios::run;
use heapsnap_scenarios::score::{Outcome, SNAPSHOTS, TRUTH_FILE};

const KIB: u64 = 1024;
const SEEDS: [u64; 3] = [11, 22, 33];

/// Where the cases' series come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The recorded runs of `tests/data/defects/`.
    Recorded,
    /// The scenario, run now.
    Live,
    /// The scenario, run now, its first seed's run recorded.
    Record,
}

fn mode() -> Mode {
    match std::env::var("HEAPSNAP_DEFECTS").as_deref() {
        Ok("live") => Mode::Live,
        Ok("record") => Mode::Record,
        _ => Mode::Recorded,
    }
}

/// The seeds each case runs with: all of them live, the first recorded.
fn seeds() -> &'static [u64] {
    match mode() {
        Mode::Recorded => &SEEDS[..1],
        Mode::Live | Mode::Record => &SEEDS,
    }
}

/// The recorded run of `name` with `seed`.
fn fixture(name: &str, seed: u64) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/defects")
        .join(format!("{name}-{seed}"))
}
/// How many sampling intervals the leaks grow (half of what they make
/// kept).
const CLEAR: f64 = 100.0;

/// The scenario program, built once for every test.
fn scenario() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(run::build)
}

/// The `heapsnap` command.
fn heapsnap() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    // Recorded runs need the command alone, not the scenario program: it
    // comes from the release build the workspace's other tests share.
    BINARY.get_or_init(|| match mode() {
        Mode::Recorded => run::build_test_targets().join("heapsnap"),
        Mode::Live | Mode::Record => run::build_cli(),
    })
}

/// A plan of `seconds` at `interval` with snapshots evenly every so often.
fn plan(seed: u64, interval: u64, seconds: f64, leak: Option<Leak>, healthy: Vec<Healthy>) -> Plan {
    Plan {
        seed,
        seconds,
        interval,
        schedule: Schedule::Every { count: 14 },
        teardown: false,
        leak,
        healthy,
    }
}

/// A leak of `kind` that grows `intervals` sampling intervals over
/// `seconds`, half of what it makes kept.
fn leak(kind: LeakKind, interval: u64, seconds: f64, intervals: f64) -> Leak {
    Leak {
        kind,
        bytes_per_sec: intervals * interval as f64 / seconds / 0.5,
        object_bytes: 900,
        leak_fraction: 0.5,
        start_fraction: 0.0,
        transient_twin: false,
    }
}

fn churn(interval: u64, seconds: f64) -> Healthy {
    Healthy::Churn {
        bytes_per_sec: 200.0 * interval as f64 / seconds,
    }
}

/// Held by each test for the whole of it: a scenario paces itself by the
/// clock, and another test's scenario or analysis beside it on two cores
/// would stall its load and make it another scenario than the one planned
/// (a leak that stops early is rightly "levelled").
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Waits for the other tests to finish; the test runs alone while it holds
/// the guard.
fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `plan` into a fresh directory (or copies its recorded run there)
/// and returns it with the truth.
fn run_plan(name: &str, plan: &Plan) -> (PathBuf, heapsnap_scenarios::score::Truth) {
    let dir = std::env::temp_dir().join(format!(
        "heapsnap-defects-{}-{name}-{}",
        std::process::id(),
        plan.seed
    ));
    if mode() == Mode::Recorded {
        let recorded = fixture(name, plan.seed);
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&recorded, &dir).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (HEAPSNAP_DEFECTS=record records it)",
                recorded.display()
            )
        });
        let truth = std::fs::read(dir.join(TRUTH_FILE)).expect("the recorded truth");
        return (
            dir,
            serde_json::from_slice(&truth).expect("the truth is JSON"),
        );
    }
    let truth = run::run(scenario(), plan, &dir).expect("the scenario runs");
    (dir, truth)
}

/// Records the run in `dir` as the fixture of `name` with `seed`: its plan,
/// its truth, and its snapshots with their frames named (the fixture is
/// read where the scenario's binary is another build) and the paths of
/// this machine left out (the workspace's made relative, Cargo's home
/// written `~/.cargo`).
fn record(dir: &Path, name: &str, seed: u64) {
    let to = fixture(name, seed);
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(to.join(SNAPSHOTS)).expect("the fixture's directory");
    for file in ["plan.json", TRUTH_FILE] {
        std::fs::copy(dir.join(file), to.join(file)).expect("copied");
    }
    let mut loaded = heapsnap_report::load::many(&[dir.join(SNAPSHOTS).display().to_string()])
        .expect("the snapshots load");
    heapsnap_report::symbolize::name_from_this_machine(&mut loaded);
    let workspace = run::workspace();
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|home| Path::new(&home).join(".cargo")))
        .expect("Cargo's home");
    for one in &loaded {
        let text = serde_json::to_string(&one.snapshot).expect("the snapshot as JSON");
        let text = text
            .replace(&format!("\"{}/", workspace.display()), "\"")
            .replace(&format!("\"{}/", cargo_home.display()), "\"~/.cargo/");
        let snapshot =
            heapsnap_format::Snapshot::from_slice(text.as_bytes()).expect("the snapshot reads");
        let name = Path::new(&one.source).file_name().expect("a file name");
        snapshot
            .write_to_path(to.join(SNAPSHOTS).join(name))
            .expect("the named snapshot is written");
    }
}

/// Copies the files of `from` into `to`, subdirectories included.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Records the run of `plan` in `dir` when recording and the case runs
/// with its first seed (`case_seed`).
fn record_if_asked(dir: &Path, name: &str, plan: &Plan, case_seed: u64) {
    if mode() == Mode::Record && case_seed == SEEDS[0] {
        record(dir, name, plan.seed);
    }
}

/// `heapsnap leaks ARGS` as a user types it: its report as JSON, checked
/// against the text report's first suspect.
fn leaks_command(dir: &Path, args: &[&str]) -> serde_json::Value {
    let snapshots = dir.join(SNAPSHOTS);
    let output = Command::new(heapsnap())
        .arg("leaks")
        .arg(&snapshots)
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("heapsnap runs");
    assert!(
        output.status.success(),
        "heapsnap leaks: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

/// Runs `plan` `SEEDS.len()` times, each judged by `check` on the
/// library's report and its outcome; the command's JSON must agree with
/// the library's on the first suspect.
fn each_seed(name: &str, make: impl Fn(u64) -> Plan, check: impl Fn(&Report, &Outcome)) {
    for &seed in seeds() {
        let plan = make(seed);
        let (dir, truth) = run_plan(name, &plan);
        let (report, outcome) = run::analyse(&dir, &truth).expect("the analysis");
        let json = leaks_command(&dir, &[]);
        assert_eq!(
            json["suspects"][0]["summary"].as_str(),
            report
                .suspects
                .first()
                .map(heapsnap_report::render::sentence::suspect)
                .as_deref(),
            "{name}, seed {seed}: the command and the library disagree"
        );
        let text = render(&report);
        eprintln!("{name}, seed {seed}:\n{text}");
        check(&report, &outcome);
        record_if_asked(&dir, name, &plan, seed);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn render(report: &Report) -> String {
    let mut text = Vec::new();
    heapsnap_report::render::text::leaks(report, &mut text).expect("rendered");
    String::from_utf8_lossy(&text).into_owned()
}

/// The first suspect is the leak, named by its holder, and nothing else is
/// a suspect.
fn leak_named_alone(report: &Report, outcome: &Outcome) {
    assert!(
        outcome.first_named,
        "the leak's holder is not the first suspect:\n{}",
        render(report)
    );
    assert!(
        outcome.false_suspects.is_empty(),
        "false suspects: {:#?}",
        outcome.false_suspects
    );
}

/// Nothing is a suspect.
fn no_suspects(report: &Report, outcome: &Outcome) {
    assert!(
        outcome.false_suspects.is_empty() && report.suspects.is_empty(),
        "suspects in a healthy server:\n{}",
        render(report)
    );
}

/// Sessions stored by value in a `HashMap<u64, Session>`: the map is named,
/// not the sessions' buffers, beside a bounded store of the same type.
#[test]
fn a_map_of_structs_by_value_is_named() {
    let _alone = alone();
    let (interval, seconds) = (64 * KIB, 5.0);
    each_seed(
        "by-value",
        |seed| {
            plan(
                seed,
                interval,
                seconds,
                Some(leak(LeakKind::MapByValue, interval, seconds, CLEAR)),
                vec![
                    Healthy::BoundedSessions {
                        bytes: 40 * interval,
                        fill_fraction: 0.2,
                    },
                    churn(interval, seconds),
                ],
            )
        },
        leak_named_alone,
    );
}

/// Messages parsed by `serde_json` in one function and moved into a map by
/// another: the map is named, where the program grows it, and nothing in
/// what it holds is placed in a third-party crate.
#[test]
fn values_moved_in_are_held_by_the_map_in_the_programs_own_code() {
    let _alone = alone();
    let (interval, seconds) = (512 * KIB, 5.0);
    each_seed(
        "moved-in",
        |seed| {
            plan(
                seed,
                interval,
                seconds,
                Some(leak(LeakKind::MovedIn, interval, seconds, CLEAR)),
                vec![churn(interval, seconds)],
            )
        },
        |report, outcome| {
            leak_named_alone(report, outcome);
            let first = &report.suspects[0];
            in_own_code(first);
            assert!(
                first.holds.iter().any(|h| h.ty == "String"),
                "the messages' strings are not among what the map holds: {:#?}",
                first.holds
            );
        },
    );
}

/// Every place a suspect names is the program's own: a third-party crate's
/// helper (`serde_json`'s parser, `bytes`, `hashbrown`, `tokio`) stays in
/// the stack but is never the location.
fn in_own_code(suspect: &Suspect) {
    let own = |function: &str| {
        let short = heapsnap_format::names::short_function(function);
        function.contains("scenario::")
            && !short.starts_with("serde")
            && !short.starts_with("<serde")
    };
    assert!(
        own(&suspect.function)
            && suspect
                .file
                .as_deref()
                .is_some_and(|f| f.starts_with("src/")),
        "the suspect is placed outside the program: {} ({:?})",
        suspect.function,
        suspect.file
    );
    for held in &suspect.holds {
        assert!(
            own(&held.function),
            "{} is placed in {}, outside the program",
            held.ty,
            held.function
        );
    }
}

/// A registry of `Arc<Connection>`s beside a heartbeat that builds a short
/// `Vec<Arc<Connection>>` now and then: the registry is named, the
/// transient list is no suspect.
#[test]
fn a_transient_collection_of_the_same_elements_is_no_holder() {
    let _alone = alone();
    let (interval, seconds) = (512 * KIB, 5.0);
    each_seed(
        "transient",
        |seed| {
            // Large connections: few of them, so that the registry's own
            // tables and the heartbeat's lists are small beside the
            // interval, and seen (if at all) by a few samples.
            let mut registry = leak(LeakKind::RegistryArc, interval, seconds, CLEAR);
            registry.object_bytes = 16 << 10;
            registry.transient_twin = true;
            plan(
                seed,
                interval,
                seconds,
                Some(registry),
                vec![churn(interval, seconds)],
            )
        },
        |report, outcome| {
            leak_named_alone(report, outcome);
            assert!(
                !report.suspects.iter().any(|s| s.ty.starts_with("Vec<Arc<")),
                "the heartbeat's list is a suspect:\n{}",
                render(report)
            );
        },
    );
}

/// A table of many small objects loaded once at 60% of the run, beside a
/// cache that warms up: no suspect. The load takes a few tenths of a
/// second, more on a busy machine; started later (70% was tried), it can
/// still be loading at the last snapshots, and then nothing in the series
/// tells it from a leak that began late.
#[test]
fn a_late_load_is_no_leak() {
    let _alone = alone();
    let (interval, seconds) = (512 * KIB, 5.0);
    each_seed(
        "late-load",
        |seed| {
            plan(
                seed,
                interval,
                seconds,
                None,
                vec![
                    Healthy::OneOffLoad {
                        bytes: 100 * interval,
                        at_fraction: 0.6,
                    },
                    Healthy::LruCache {
                        bytes: 40 * interval,
                        fill_fraction: 0.3,
                    },
                    churn(interval, seconds),
                ],
            )
        },
        no_suspects,
    );
}

/// Snapshots only on growth (the default trigger with `HEAPSNAP_DIR`), so
/// that they cluster while a table loads early: the leak is still named,
/// the table is no suspect.
#[test]
fn snapshots_clustered_in_time_still_find_the_leak() {
    let _alone = alone();
    let (interval, seconds) = (512 * KIB, 6.0);
    each_seed(
        "clustered",
        |seed| Plan {
            schedule: Schedule::Growth { margin: 0.2 },
            ..plan(
                seed,
                interval,
                seconds,
                Some(leak(LeakKind::GrowingLog, interval, seconds, CLEAR)),
                vec![
                    Healthy::OneOffLoad {
                        bytes: 120 * interval,
                        at_fraction: 0.15,
                    },
                    churn(interval, seconds),
                ],
            )
        },
        |report, outcome| {
            assert!(report.snapshots >= 5, "{} snapshots", report.snapshots);
            leak_named_alone(report, outcome);
        },
    );
}

/// The last snapshot taken after the program dropped its state: judged
/// without it, and said so.
#[test]
fn a_teardown_snapshot_is_left_out() {
    let _alone = alone();
    let (interval, seconds) = (64 * KIB, 5.0);
    each_seed(
        "teardown",
        |seed| Plan {
            teardown: true,
            ..plan(
                seed,
                interval,
                seconds,
                Some(leak(LeakKind::MapByValue, interval, seconds, CLEAR)),
                vec![churn(interval, seconds)],
            )
        },
        |report, outcome| {
            assert!(
                report
                    .notes
                    .iter()
                    .any(|n| matches!(n, Note::Teardown { .. })),
                "no note of the teardown: {:?}",
                report.notes
            );
            leak_named_alone(report, outcome);
        },
    );
}

/// A leaking server killed and restarted, whose new process left one
/// snapshot in the same directory: the run that died is analysed, and the
/// note says which; `--pid` picks a run, and a run of one snapshot is a
/// clear error.
#[test]
fn after_a_restart_the_run_that_died_is_analysed() {
    let _alone = alone();
    let (interval, seconds) = (64 * KIB, 5.0);
    for &seed in seeds() {
        let leaking = plan(
            seed,
            interval,
            seconds,
            Some(leak(LeakKind::RegistryArc, interval, seconds, CLEAR)),
            vec![churn(interval, seconds)],
        );
        let (dir, truth) = run_plan("restart-first", &leaking);
        let restarted = Plan {
            schedule: Schedule::AtEnd,
            ..plan(seed + 1, interval, 0.5, None, vec![churn(interval, 0.5)])
        };
        let (second, _) = run_plan("restart-second", &restarted);
        record_if_asked(&dir, "restart-first", &leaking, seed);
        record_if_asked(&second, "restart-second", &restarted, seed);
        for entry in std::fs::read_dir(second.join(SNAPSHOTS)).expect("the second run's snapshots")
        {
            let entry = entry.expect("an entry");
            std::fs::copy(entry.path(), dir.join(SNAPSHOTS).join(entry.file_name()))
                .expect("copied");
        }
        let (report, outcome) = run::analyse(&dir, &truth).expect("the analysis");
        leak_named_alone(&report, &outcome);
        assert!(
            report.notes.iter().any(
                |n| matches!(n, Note::Runs { processes: 2, left_out, .. } if left_out.len() == 1)
            ),
            "no note of the other process: {:?}",
            report.notes
        );
        let json = leaks_command(&dir, &["--pid", &report.pid.to_string()]);
        assert_eq!(json["pid"].as_u64(), Some(report.pid as u64));
        let other = std::fs::read_dir(second.join(SNAPSHOTS))
            .expect("the second run's snapshots")
            .count();
        assert_eq!(other, 1, "the restarted process left one snapshot");
        let new_pid = pid_of(&second);
        let output = Command::new(heapsnap())
            .arg("leaks")
            .arg(dir.join(SNAPSHOTS))
            .args(["--pid", &new_pid.to_string()])
            .output()
            .expect("heapsnap runs");
        assert_eq!(output.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("two snapshots"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&second);
    }
}

/// The pid of the process whose snapshots are in `dir`.
fn pid_of(dir: &Path) -> u32 {
    let loaded = heapsnap_report::load::many(&[dir.join(SNAPSHOTS).display().to_string()])
        .expect("the snapshots load");
    loaded[0].snapshot.process.pid
}

/// Two runs that each leak, one after the other in one directory: both are
/// analysed, the newest first.
#[test]
fn every_run_with_enough_snapshots_is_analysed() {
    let _alone = alone();
    let (interval, seconds) = (512 * KIB, 4.0);
    let make = |seed| {
        plan(
            seed,
            interval,
            seconds,
            Some(leak(LeakKind::GrowingLog, interval, seconds, CLEAR)),
            vec![churn(interval, seconds)],
        )
    };
    let (first, newer) = (make(5), make(6));
    let (dir, _) = run_plan("two-runs-first", &first);
    let first_pid = pid_of(&dir);
    let (second, newer_truth) = run_plan("two-runs-second", &newer);
    record_if_asked(&dir, "two-runs-first", &first, SEEDS[0]);
    record_if_asked(&second, "two-runs-second", &newer, SEEDS[0]);
    for entry in std::fs::read_dir(second.join(SNAPSHOTS)).expect("the second run's snapshots") {
        let entry = entry.expect("an entry");
        std::fs::copy(entry.path(), dir.join(SNAPSHOTS).join(entry.file_name())).expect("copied");
    }
    let (report, _) = run::analyse(&dir, &newer_truth).expect("the analysis");
    assert_eq!(report.pid, pid_of(&second), "the newest run comes first");
    assert_eq!(report.earlier_runs.len(), 1, "{:?}", report.notes);
    assert_eq!(report.earlier_runs[0].pid, first_pid);
    for run in std::iter::once(&report).chain(&report.earlier_runs) {
        let first = run.suspects.first().expect("each run's leak is found");
        assert_eq!(first.ty, LeakKind::GrowingLog.holder().0);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&second);
}
