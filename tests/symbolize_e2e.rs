//! Offline symbolisation, end to end, as a production build is shipped: the
//! leaky-server example is built, its debug information copied aside with
//! `objcopy --only-keep-debug`, and the binary stripped. The stripped server
//! runs with automatic dumps; its snapshots hold bare addresses, and the
//! reporter warns. Named offline (`heapsnap symbolize --debug-dir`, a
//! directory laid out by build id as `/usr/lib/debug` is, or `--binary` on
//! a report command), they read as an unstripped build's do: the same frames
//! at each address, the same leak named by the same holder.
//!
//! And `HEAPSNAP_SYMBOLIZE=off` on an unstripped build: the process names
//! nothing, the reporter names it all from the binary.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use heapsnap_report::Snapshot;
use serde_json::Value;

/// The frames at each address, by file address (the address less its
/// module's load bias), so that runs of one build compare.
type FramesByAddress = HashMap<u64, Vec<(Option<String>, Option<String>, Option<u32>)>>;

fn frames_by_address(snapshot: &Snapshot) -> FramesByAddress {
    let mut by_address = FramesByAddress::new();
    for stack in &snapshot.stacks {
        for &id in stack {
            let frame = &snapshot.frames[id as usize];
            let Some(module) = snapshot
                .modules
                .iter()
                .find(|m| m.start <= frame.ip && frame.ip < m.end)
            else {
                continue;
            };
            let at = by_address.entry(frame.ip - module.bias).or_default();
            let entry = (frame.function.clone(), frame.file.clone(), frame.line);
            if !at.contains(&entry) {
                at.push(entry);
            }
        }
    }
    by_address
}

fn newest(dir: &Path) -> Snapshot {
    let files = support::snapshot_files(dir);
    Snapshot::read_from_path(files.last().expect("a snapshot")).unwrap()
}

/// A copy of the leaky-server example in `scratch`, for the test to strip
/// or move. `cp` writes it, not this process: a file this process held open
/// for writing would be inherited by a child the other test forks meanwhile,
/// and running the copy would then fail with "Text file busy".
fn server_in(scratch: &Path) -> std::path::PathBuf {
    let server = scratch.join("server");
    tool("cp", &[&support::example("leaky_server"), &server]);
    server
}

/// A frame every stack of the server's leak passes through.
const LEAK_FRAME: &str = "ChannelContext>::new";

/// Runs `server` for a few seconds, dumping into `dir` (emptied first).
/// The tests below ask what frames are named, not what the leak did, so
/// one run whatever the machine's pace.
fn run(server: &Path, dir: &Path, env: &[(&str, &str)]) {
    let _ = std::fs::remove_dir_all(dir);
    support::output_ok(
        Command::new(server)
            .args(["--seconds", "6", "--interval-ms", "400", "--no-report"])
            .arg("--dir")
            .arg(dir)
            .envs(env.iter().copied())
            .env_remove("HEAPSNAP_DIR"),
    );
}

/// `heapsnap leaks --format json` over `dir` with `extra` options: the
/// report, and what it said on standard error.
fn leaks(dir: &Path, extra: &[&str]) -> (Value, String) {
    let output = support::output_ok(
        Command::new(support::heapsnap_bin())
            .args(["leaks", "--format", "json"])
            .arg(dir)
            .args(extra),
    );
    let report = serde_json::from_slice(&output.stdout).expect("leaks writes JSON");
    (report, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// `heapsnap top --by site` over `dir` with `extra` options: each site's
/// type, function and why it is unknown (if it is). What the frames are
/// named, whatever the leak verdict: the verdict depends on how far the
/// run got, which the machine's pace sets.
fn sites(dir: &Path, extra: &[&str]) -> Vec<(String, String, String)> {
    let output = support::output_ok(
        Command::new(support::heapsnap_bin())
            .args([
                "top", "--by", "site", "--limit", "100000", "--format", "json",
            ])
            .arg(dir)
            .args(extra),
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("top writes JSON");
    let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                text(&row["type"]),
                text(&row["location"]["function"]),
                text(&row["location"]["unknown"]),
            )
        })
        .collect()
}

/// The leak's sites, named: a type and the frame every leak stack passes
/// through (present whenever the run's leak went on, see `run`).
fn names_the_leak(sites: &[(String, String, String)]) -> bool {
    sites
        .iter()
        .any(|(ty, function, _)| ty != "?" && function.ends_with(LEAK_FRAME))
}

fn tool(name: &str, args: &[&Path]) {
    let status = Command::new(name)
        .args(args)
        .status()
        .unwrap_or_else(|err| panic!("{name} runs: {err}"));
    assert!(status.success(), "{name} {args:?}");
}

#[test]
fn a_stripped_server_named_offline_reads_as_the_unstripped_one() {
    let scratch = support::scratch("symbolize");
    let server = server_in(&scratch);
    let debug = scratch.join("server.debug");
    let stripped = scratch.join("server.stripped");
    tool(
        "objcopy",
        &[Path::new("--only-keep-debug"), &server, &debug],
    );
    tool(
        "strip",
        &[
            Path::new("--strip-all"),
            Path::new("-o"),
            &stripped,
            &server,
        ],
    );

    let plain_dumps = scratch.join("unstripped");
    let stripped_dumps = scratch.join("stripped");
    run(&server, &plain_dumps, &[]);
    run(&stripped, &stripped_dumps, &[]);

    // Stripped: bare addresses, and the reporter says so with the fix.
    let (bare, said) = leaks(&stripped_dumps, &[]);
    assert!(said.contains("stripped"), "{said}");
    assert!(said.contains("heapsnap symbolize"), "{said}");
    let bare_sites = sites(&stripped_dumps, &[]);
    assert!(
        bare_sites
            .iter()
            .all(|(ty, function, _)| ty == "?" && !function.contains("::")),
        "{bare_sites:?}"
    );
    // `?` says why.
    assert!(
        bare_sites
            .iter()
            .any(|(_, function, unknown)| function == "?" && unknown == "no_symbols"),
        "{bare_sites:?} {bare:#}"
    );

    // The debug file under a build-id directory, as distributions lay it out.
    let build_id = newest(&stripped_dumps)
        .process
        .build_id
        .expect("the build id is recorded");
    let by_id = scratch.join("debug/.build-id").join(&build_id[..2]);
    std::fs::create_dir_all(&by_id).unwrap();
    std::fs::copy(&debug, by_id.join(format!("{}.debug", &build_id[2..]))).unwrap();
    let named_dumps = scratch.join("named");
    let output = support::output_ok(
        Command::new(support::heapsnap_bin())
            .arg("symbolize")
            .arg(&stripped_dumps)
            .arg("--debug-dir")
            .arg(scratch.join("debug"))
            .arg("-o")
            .arg(&named_dumps),
    );
    let said = String::from_utf8_lossy(&output.stderr);
    // Counted once however many snapshots hold an address.
    let named_count: usize = said
        .split("named ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of named addresses: {said}"));
    let mut addresses = std::collections::HashSet::new();
    for file in support::snapshot_files(&stripped_dumps) {
        let snapshot = Snapshot::read_from_path(&file).unwrap();
        addresses.extend(snapshot.frames.iter().map(|f| f.ip));
    }
    assert!(
        named_count > 0 && named_count <= addresses.len(),
        "named {named_count} of {} distinct addresses",
        addresses.len()
    );

    // Every address both runs saw has the same frames.
    let named = frames_by_address(&newest(&named_dumps));
    let plain = frames_by_address(&newest(&plain_dumps));
    let common: Vec<&u64> = named.keys().filter(|a| plain.contains_key(a)).collect();
    assert!(
        common.len() >= 20,
        "only {} addresses in common",
        common.len()
    );
    for address in common {
        assert_eq!(named[address], plain[address], "at {address:#x}");
    }

    // The same holder named, and no warning left.
    let (_, said) = leaks(&named_dumps, &[]);
    assert!(!said.contains("warning"), "{said}");
    let plain_sites = sites(&plain_dumps, &[]);
    assert!(names_the_leak(&plain_sites), "{plain_sites:?}");
    let named_sites = sites(&named_dumps, &[]);
    assert!(names_the_leak(&named_sites), "{named_sites:?}");

    // Any command names frames itself, given the debug file.
    let debug_file = debug.display().to_string();
    let (_, said) = leaks(&stripped_dumps, &["--binary", &debug_file]);
    assert!(!said.contains("warning"), "{said}");
    let direct = sites(&stripped_dumps, &["--binary", &debug_file]);
    assert!(names_the_leak(&direct), "{direct:?}");
}

#[test]
fn symbolizing_deferred_to_the_reporter() {
    let scratch = support::scratch("symbolize-off");
    let server = server_in(&scratch);
    let dumps = scratch.join("dumps");
    run(&server, &dumps, &[("HEAPSNAP_SYMBOLIZE", "off")]);
    let snapshot = newest(&dumps);
    assert!(
        snapshot.frames.iter().all(|f| f.function.is_none()),
        "the process named frames"
    );
    // Where the program still is (the same build, by its build id), the
    // reporter names its frames from it unasked.
    let (_, said) = leaks(&dumps, &[]);
    assert!(
        said.contains("named ") && !said.contains("warning"),
        "{said}"
    );
    let unasked = sites(&dumps, &[]);
    assert!(names_the_leak(&unasked), "{unasked:?}");

    // Gone, it must be given; the warning says why frames are bare.
    let elsewhere = scratch.join("kept");
    std::fs::rename(&server, &elsewhere).unwrap();
    let (_, said) = leaks(&dumps, &[]);
    assert!(said.contains("HEAPSNAP_SYMBOLIZE=off"), "{said}");
    let binary = elsewhere.display().to_string();
    let (_, said) = leaks(&dumps, &["--binary", &binary]);
    assert!(!said.contains("warning"), "{said}");
    let given = sites(&dumps, &["--binary", &binary]);
    assert_eq!(given, unasked);
}
