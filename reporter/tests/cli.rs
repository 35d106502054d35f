//! The `heapsnap` binary's exit statuses and messages: 0 when fine, 1 when a
//! gate trips, 2 with one line naming the file and the problem for every
//! kind of bad input, never a panic.

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn heapsnap() -> Command {
    Command::cargo_bin("heapsnap").unwrap()
}

fn valid() -> Value {
    let text = std::fs::read_to_string(data("snapshots/quickstart.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A directory of files for one test, removed when it is dropped.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Scratch {
        Scratch(tempfile::tempdir().unwrap())
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A valid snapshot with one change made to its JSON.
fn edited(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut snapshot = valid();
    edit(&mut snapshot);
    serde_json::to_vec(&snapshot).unwrap()
}

#[test]
fn every_kind_of_bad_input_exits_2_naming_the_file_and_the_problem() {
    let scratch = Scratch::new();
    let text = serde_json::to_vec(&valid()).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty file"),
        ("not-json", b"heap snapshot, honest".to_vec(), "not JSON"),
        ("binary", vec![0x00, 0xff, 0x10, 0x80, 0x7f], "not JSON"),
        ("truncated", text[..text.len() / 2].to_vec(), "truncated"),
        ("array", b"[1, 2, 3]".to_vec(), "not a heapsnap snapshot"),
        (
            "other-format",
            br#"{"format": "pprof", "version": 1}"#.to_vec(),
            "its format is \"pprof\"",
        ),
        (
            "newer-version",
            edited(|s| s["version"] = json!(heapsnap_format::snapshot::VERSION + 1)),
            "is newer than this reader",
        ),
        (
            "version-zero",
            edited(|s| s["version"] = json!(0)),
            "version 0 does not exist",
        ),
        (
            "missing-field",
            edited(|s| {
                s.as_object_mut().unwrap().remove("sites");
            }),
            "missing field `sites`",
        ),
        (
            "wrong-type",
            edited(|s| s["sites"][0]["live_bytes"] = json!("many")),
            "invalid type",
        ),
        (
            "negative",
            edited(|s| s["sites"][0]["live_bytes"] = json!(-100)),
            "invalid value",
        ),
        (
            "absurd",
            edited(|s| s["totals"]["live_bytes"] = json!(u64::MAX)),
            "totals.live_bytes is 18446744073709551615, more than any real heap",
        ),
        (
            "dangling-frame",
            edited(|s| s["stacks"][0] = json!([0, 1_000_000])),
            "stack 0 refers to frame 1000000",
        ),
        (
            "dangling-stack",
            edited(|s| s["sites"][0]["stack"] = json!(999_999)),
            "site 0 refers to stack 999999",
        ),
        (
            "bad-address",
            edited(|s| s["frames"][0]["ip"] = json!("0xnothex")),
            "is not hexadecimal",
        ),
        (
            "bad-ages",
            edited(|s| s["sites"][0]["live_bytes_by_age"] = json!([1, 2, 3])),
            "site 0 has 3 age buckets",
        ),
        (
            "unordered-ages",
            edited(|s| s["age_buckets_ms"] = json!([1000, 500])),
            "age_buckets_ms is not increasing",
        ),
        (
            "negative-variance",
            edited(|s| s["sites"][0]["live_bytes_var"] = json!(-1.0)),
            "negative live_bytes_var",
        ),
        (
            "corrupt-gzip",
            vec![0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02],
            "not a valid gzip file",
        ),
        ("gzipped-garbage", gzip(b"not json either"), "not JSON"),
    ];
    assert!(cases.len() >= 15);
    for (name, bytes, message) in cases {
        let path = scratch.file(&format!("{name}.json"), &bytes);
        for command in [
            vec!["top", &path],
            vec!["flamegraph", &path, "-o", "-"],
            vec!["diff", &path, &path],
            vec!["leaks", &path, &path],
        ] {
            let output = heapsnap().args(&command).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{name}: {command:?}: {stderr}"
            );
            assert_eq!(
                stderr.lines().count(),
                1,
                "{name}: one line expected: {stderr}"
            );
            assert!(stderr.starts_with("heapsnap: "), "{name}: {stderr}");
            assert!(
                stderr.contains(&path),
                "{name}: the message must name the file: {stderr}"
            );
            assert!(
                stderr.contains(message),
                "{name}: expected {message:?} in {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        }
    }
}

#[test]
fn missing_files_directories_and_bad_arguments_exit_2() {
    heapsnap()
        .args(["top", "no-such-snapshot.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no-such-snapshot.json: No such file",
        ));
    // `diff` compares two files (`top` takes a directory's newest).
    let q = data("snapshots/quickstart.json");
    heapsnap()
        .args(["diff", data("snapshots").to_str().unwrap()])
        .arg(&q)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a directory"));
    heapsnap().args(["top"]).assert().code(2);
    heapsnap().args(["frobnicate"]).assert().code(2);
    heapsnap()
        .args([
            "top",
            data("snapshots/quickstart.json").to_str().unwrap(),
            "--by",
            "colour",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("colour"));
    let q = data("snapshots/quickstart.json");
    let q = q.to_str().unwrap();
    heapsnap()
        .args(["diff", q, q, "--fail-on-growth", "lots"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected a size"));
    heapsnap()
        .args(["diff", q, q, "--confidence", "20"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("between 50 and 99.9999"));
    heapsnap()
        .args(["flamegraph", q, "-o", "/no/such/dir/heap.svg"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("writing /no/such/dir/heap.svg"));
    heapsnap()
        .args(["report", "no-such-snapshot.json", "-o", "report.html"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no-such-snapshot.json: No such file",
        ));
    heapsnap()
        .args(["report", q, "--pid", "1", "-o", "report.html"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no snapshot of pid 1"));
    heapsnap()
        .args(["report", q])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--output"));
}

#[test]
fn each_command_exits_0_when_fine_and_diff_exits_1_when_a_gate_trips() {
    let q = data("snapshots/quickstart.json");
    let q = q.to_str().unwrap();
    heapsnap()
        .args(["top", q])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Vec<Event>"));
    heapsnap()
        .args(["top", q, "--format", "json"])
        .assert()
        .code(0);
    heapsnap()
        .args(["flamegraph", q, "-o", "-"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("<?xml"));
    heapsnap()
        .args(["diff", q, q, "--fail-on-growth", "0"])
        .assert()
        .code(0);
    let base = data("snapshots/ci-base.json");
    let new = data("snapshots/ci-regression.json");
    let (base, new) = (base.to_str().unwrap(), new.to_str().unwrap());
    heapsnap().args(["diff", base, new]).assert().code(0);
    heapsnap()
        .args(["diff", base, new, "--fail-on-growth", "1MiB"])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("FAILED").and(predicate::str::contains("remember_processed")),
        );
    heapsnap()
        .args(["diff", base, new, "--fail-on-growth", "1000%"])
        .assert()
        .code(0);
    // Shrinking is never growth.
    heapsnap()
        .args(["diff", new, base, "--fail-on-growth", "0"])
        .assert()
        .code(0);
}

#[test]
fn reads_standard_input_gzip_and_reports_through_a_closed_pipe() {
    let bytes = std::fs::read(data("snapshots/quickstart.json")).unwrap();
    heapsnap()
        .args(["top", "-"])
        .write_stdin(bytes.clone())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("-: manual snapshot"));
    let scratch = Scratch::new();
    let gz = scratch.file("heap.json.gz", &gzip(&bytes));
    heapsnap()
        .args(["top", &gz])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Vec<Event>"));

    // A reader that goes away (`| head`) is not an error: the SVG is larger
    // than a pipe holds, so writing it fails with EPIPE.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("heapsnap"))
        .args([
            "flamegraph",
            data("snapshots/collections.json").to_str().unwrap(),
            "-o",
            "-",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn leaks_needs_a_series_of_one_process() {
    let one = data("snapshots/quickstart.json");
    let one = one.to_str().unwrap();
    heapsnap()
        .args(["leaks", one])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("need at least two snapshots"));
    // The same snapshot twice is one snapshot.
    heapsnap()
        .args(["leaks", one, one])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("need at least two snapshots"));
    let series = data("snapshots/engine");
    let series = series.to_str().unwrap();
    heapsnap()
        .args(["leaks", series, "--min-confidence", "150"])
        .assert()
        .code(2);
    // A leak fails `--fail`; a lower bar than any suspect's confidence
    // changes nothing, a bar above all of them passes.
    heapsnap()
        .args(["leaks", series, "--fail"])
        .assert()
        .code(1);
    heapsnap()
        .args(["leaks", series, "--fail", "--min-confidence", "100"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("No leak suspects"));
}

#[test]
fn leaks_analyses_each_run_newest_first_and_pid_picks_one() {
    let scratch = Scratch::new();
    let engine = data("snapshots/engine");
    let gateway = data("snapshots/gateway-fixed");
    // Both series in one directory, as after a restart.
    for dir in [&engine, &gateway] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            scratch.file(&name, &std::fs::read(&path).unwrap());
        }
    }
    let both = heapsnap()
        .args(["leaks", scratch.path().to_str().unwrap()])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "snapshots of 2 processes given; each run with two snapshots or more is analysed, newest first",
        ))
        .stdout(predicate::str::contains("\nEarlier run:\n"));
    let text = String::from_utf8_lossy(&both.get_output().stdout).into_owned();
    // The engine's leak is found in whichever place its run comes.
    assert!(
        text.contains("HashMap<String, Arc<Program>> grown in CodeLoader::load"),
        "{text}"
    );
    let pid = |dir: &std::path::Path| {
        let first = std::fs::read_dir(dir).unwrap().next().unwrap().unwrap();
        let name = first.file_name().into_string().unwrap();
        // heapsnap-SEQ-PID-TRIGGER.json.gz
        name.split('-').nth(2).unwrap().to_owned()
    };
    let engine_pid = pid(&engine);
    heapsnap()
        .args([
            "leaks",
            scratch.path().to_str().unwrap(),
            "--pid",
            &engine_pid,
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!("(pid {engine_pid})")))
        .stdout(predicate::str::contains("Earlier run").not())
        .stdout(predicate::str::contains("; analysed: pid"));
    heapsnap()
        .args(["leaks", scratch.path().to_str().unwrap(), "--pid", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no snapshot of pid 1"));
}

/// `-o` writes into what it names and leaves it what it was: a FIFO stays a
/// FIFO (its reader gets the SVG), a symbolic link stays a link (its target
/// gets the SVG), a regular file is replaced keeping its permissions, and a
/// directory is refused.
#[cfg(unix)]
#[test]
fn output_keeps_fifos_links_and_permissions() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let scratch = Scratch::new();
    let q = data("snapshots/quickstart.json");
    let q = q.to_str().unwrap();

    let fifo = scratch.path().join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    heapsnap()
        .args(["flamegraph", q, "-o"])
        .arg(&fifo)
        .assert()
        .success();
    // Checked first: had the FIFO been replaced, its reader would wait for
    // a writer forever.
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(meta.file_type().is_fifo(), "still a FIFO");
    let svg = reader.join().unwrap();
    assert!(svg.starts_with(b"<?xml"), "the reader got the SVG");

    let target = scratch.path().join("real.svg");
    std::fs::write(&target, b"old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = scratch.path().join("link.svg");
    std::os::unix::fs::symlink("real.svg", &link).unwrap();
    heapsnap()
        .args(["flamegraph", q, "-o"])
        .arg(&link)
        .assert()
        .success();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::fs::read(&target).unwrap().starts_with(b"<?xml"));
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the replaced file keeps its permissions");

    let dangling = scratch.path().join("dangling.svg");
    std::os::unix::fs::symlink("new.svg", &dangling).unwrap();
    heapsnap()
        .args(["flamegraph", q, "-o"])
        .arg(&dangling)
        .assert()
        .success();
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read(scratch.path().join("new.svg"))
            .unwrap()
            .starts_with(b"<?xml")
    );

    heapsnap()
        .args(["flamegraph", q, "-o"])
        .arg(scratch.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a directory"));
}

/// `-o /dev/stdout` writes to standard output, whatever it is: a pipe, or
/// a regular file the caller opened (which must not be replaced: the
/// caller's descriptor would keep the old one). Through a private link to
/// `/proc/self/fd/1`, so that a regression replaces the link, not the
/// machine's `/dev/stdout`.
#[cfg(target_os = "linux")]
#[test]
fn output_to_standard_output_by_its_name_reaches_it() {
    let scratch = Scratch::new();
    let stdout = scratch.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &stdout).unwrap();
    let q = data("snapshots/quickstart.json");
    let q = q.to_str().unwrap();
    heapsnap()
        .args(["flamegraph", q, "-o"])
        .arg(&stdout)
        .assert()
        .success()
        .stdout(predicate::str::starts_with("<?xml"));
    let file = scratch.path().join("out.svg");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_heapsnap"))
        .args(["flamegraph", q, "-o"])
        .arg(&stdout)
        .stdout(std::fs::File::create(&file).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::read(&file).unwrap().starts_with(b"<?xml"));
    assert!(
        std::fs::symlink_metadata(&stdout)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// Input is bounded: a device, a file or a decompressed stream larger than
/// the limit (`HEAPSNAP_MAX_SNAPSHOT_SIZE`) is refused as soon as that is
/// known, anything that starts like neither JSON nor gzip at once, and a
/// FIFO with no writer reads as empty instead of blocking forever. Each
/// exits 2 naming the file.
#[cfg(unix)]
#[test]
fn input_is_bounded_and_never_waits_for_a_missing_writer() {
    let scratch = Scratch::new();
    let refused = |args: &[&str], limit: Option<&str>, stdin: Option<&str>, message: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_heapsnap"));
        command.args(args).env_remove("HEAPSNAP_MAX_SNAPSHOT_SIZE");
        if let Some(limit) = limit {
            command.env("HEAPSNAP_MAX_SNAPSHOT_SIZE", limit);
        }
        // Opened, not read here: /dev/zero has no end.
        if let Some(stdin) = stdin {
            command.stdin(std::fs::File::open(stdin).unwrap());
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    };
    refused(
        &["top", "/dev/zero"],
        None,
        None,
        "/dev/zero: not a snapshot",
    );
    refused(&["top", "-"], None, Some("/dev/zero"), "-: not a snapshot");

    // Sparse: 2 GiB on paper, nothing on disk.
    let sparse = scratch.path().join("sparse.json");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let sparse = sparse.to_str().unwrap();
    refused(&["top", sparse], None, None, "more than 1.00 GiB");

    // A stream larger than the limit, read from standard input.
    let mut big = b"{\"pad\": \"".to_vec();
    big.resize(3 << 20, b'x');
    let big_file = scratch.file("big.json", &big);
    refused(
        &["top", "-"],
        Some("1MiB"),
        Some(&big_file),
        "more than 1.0 MiB",
    );

    // A gzip bomb in miniature: 3 MiB of JSON-looking bytes in a few KiB.
    let bomb = scratch.file("bomb.json.gz", &gzip(&big));
    refused(&["top", &bomb], Some("1MiB"), None, "more than 1.0 MiB");
    refused(
        &["top", &bomb],
        Some("lots"),
        None,
        "HEAPSNAP_MAX_SNAPSHOT_SIZE:",
    );

    let fifo = scratch.path().join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    refused(&["top", fifo.to_str().unwrap()], None, None, "empty");
}

/// Names are shown, never obeyed: control characters in a tag, a function
/// or a file name (an escape sequence, a bell) come out as `\u{1b}` in text,
/// SVG and JSON, so the SVG stays well-formed XML and the terminal keeps its
/// title.
#[test]
fn control_characters_in_names_are_written_visibly() {
    let scratch = Scratch::new();
    let snapshot = edited(|snap| {
        snap["frames"][0]["function"] = json!("app::\u{1b}]0;pwned\u{7}handler");
        snap["frames"][0]["file"] = json!("src/\u{1b}[2J.rs");
        for site in snap["sites"].as_array_mut().unwrap() {
            site["tag"] = json!("conn\u{1}id\u{202e}");
        }
    });
    let path = scratch.file("hostile.json", &snapshot);
    for args in [
        vec!["top", &path],
        vec!["top", &path, "--by", "tag"],
        vec!["top", &path, "--format", "json"],
        vec!["flamegraph", &path, "-o", "-"],
        vec!["diff", &path, &path],
    ] {
        let output = heapsnap().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        let hostile = text
            .chars()
            .find(|&c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}');
        assert_eq!(hostile, None, "{args:?} printed a control character");
    }
    let output = heapsnap()
        .args(["top", &path, "--by", "tag"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("conn\\u{1}id\\u{202e}"), "{text}");
}

/// Sums and shares stay in range: sites whose figures add up past any real
/// heap are refused (each alone is plausible; their sum wrapped, printing
/// `8192.00 PiB` and `20277347299804.7%`), and a heap the file says is empty
/// gives no share above 100%.
#[test]
fn sums_never_wrap_and_shares_never_exceed_the_heap() {
    let scratch = Scratch::new();
    let huge = edited(|snap| {
        let site = snap["sites"][0].clone();
        let sites: Vec<Value> = (0..40)
            .map(|_| {
                let mut site = site.clone();
                site["live_bytes"] = json!((1u64 << 60) - 1);
                site
            })
            .collect();
        snap["sites"] = Value::Array(sites);
    });
    let huge = scratch.file("huge.json", &huge);
    heapsnap()
        .args(["top", &huge])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("add up to"));

    let empty_heap = edited(|snap| snap["totals"]["live_bytes"] = json!(0));
    let empty_heap = scratch.file("zero.json", &empty_heap);
    let output = heapsnap()
        .args(["top", &empty_heap, "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = report["rows"].as_array().expect("rows");
    assert!(!rows.is_empty());
    for row in rows {
        let share = row["share"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&share), "share {share}");
    }
}

/// `top` and `flamegraph` take a directory: its newest snapshot. `top
/// --format markdown` is a Markdown table.
#[test]
fn top_of_a_directory_is_its_newest_snapshot_and_markdown_is_a_table() {
    let dir = data("snapshots/engine");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let newest = files.last().unwrap();
    let of_dir = heapsnap().arg("top").arg(&dir).output().unwrap();
    let of_file = heapsnap().arg("top").arg(newest).output().unwrap();
    assert!(of_dir.status.success());
    assert_eq!(of_dir.stdout, of_file.stdout);
    heapsnap()
        .arg("flamegraph")
        .arg(&dir)
        .args(["-o", "-"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("<?xml"));
    let empty = Scratch::new();
    heapsnap()
        .arg("top")
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no snapshot files"));
    heapsnap()
        .arg("top")
        .arg(newest)
        .args(["--format", "markdown"])
        .assert()
        .success()
        .stdout(predicate::str::contains("| # | live | share |"))
        .stdout(predicate::str::contains("|---:|---:|"));
}

/// Runs `heapsnap ARGS` in a pseudo-terminal `columns` wide (through
/// util-linux's `script`); what it printed, or `None` without `script`.
fn on_a_terminal(args: &str, columns: u32, env: &[(&str, &str)]) -> Option<String> {
    let bin = assert_cmd::cargo::cargo_bin("heapsnap");
    let command = format!("stty rows 40 cols {columns}; {} {args}", bin.display());
    let mut script = std::process::Command::new("script");
    script.args(["-q", "-e", "-c", &command, "/dev/null"]);
    script.env_remove("NO_COLOR").env("TERM", "xterm");
    for (key, value) in env {
        script.env(key, value);
    }
    let output = script.output().ok()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).replace('\r', ""))
}

#[test]
fn colour_follows_the_terminal_the_flag_and_no_color() {
    let file = data("snapshots/ci-regression-64k.json");
    let top = |color: &str| {
        let output = heapsnap()
            .args(["top", "--color", color])
            .arg(&file)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    // Into a pipe: plain unless asked.
    assert!(!top("auto").contains('\x1b'));
    assert!(!top("never").contains('\x1b'));
    assert!(top("always").contains("\x1b[1m#"), "{}", top("always"));
    let leaks = heapsnap()
        .args(["leaks", "--color", "always"])
        .arg(data("snapshots/engine"))
        .output()
        .unwrap();
    let leaks = String::from_utf8(leaks.stdout).unwrap();
    assert!(leaks.contains("\x1b[1;31mLeak suspects:\x1b[0m"), "{leaks}");
    // A verdict's cell in the tables, by the verdict it is.
    assert!(leaks.contains("  \x1b[1;31mgrowing\x1b[0m  "), "{leaks}");
    // On a terminal: coloured, unless NO_COLOR says otherwise.
    let args = format!("top {}", file.display());
    let Some(shown) = on_a_terminal(&args, 200, &[]) else {
        eprintln!("terminal part skipped: no `script`");
        return;
    };
    assert!(shown.contains('\x1b'), "{shown}");
    let plain = on_a_terminal(&args, 200, &[("NO_COLOR", "1")]).unwrap();
    assert!(!plain.contains('\x1b'), "{plain}");
}

#[test]
fn lines_fit_the_terminal_and_stay_whole_in_pipes() {
    let file = data("snapshots/ci-regression-64k.json");
    let piped = heapsnap().arg("top").arg(&file).output().unwrap();
    let piped = String::from_utf8(piped.stdout).unwrap();
    assert!(piped.lines().any(|l| l.chars().count() > 100), "{piped}");
    let args = format!("top --color never {}", file.display());
    let Some(shown) = on_a_terminal(&args, 80, &[]) else {
        eprintln!("skipped: no `script`");
        return;
    };
    assert!(shown.lines().all(|l| l.chars().count() <= 80), "{shown}");
    assert!(shown.lines().any(|l| l.ends_with('…')), "{shown}");
    // Sentences wrap between words instead.
    let leaks = format!("leaks --color never {}", data("snapshots/engine").display());
    let shown = on_a_terminal(&leaks, 80, &[]).unwrap();
    assert!(shown.lines().all(|l| l.chars().count() <= 80), "{shown}");
    assert!(shown.contains("\n   "), "{shown}");
}

#[test]
fn completions_and_a_manual_page() {
    for (shell, marker) in [
        ("bash", "_heapsnap()"),
        ("zsh", "#compdef heapsnap"),
        ("fish", "complete -c heapsnap"),
    ] {
        heapsnap()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker))
            .stdout(predicate::str::contains("flamegraph"));
    }
    heapsnap()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(".ie").or(predicate::str::contains(".TH heapsnap")))
        .stdout(predicate::str::contains("leaks"));
    heapsnap().args(["completions", "tcsh"]).assert().code(2);
}

/// heapsnap(1) lists every environment variable of the settings list, and
/// each command has a page of its own with every option.
#[test]
fn the_manual_has_the_environment_and_each_commands_options() {
    let main = heapsnap().arg("man").assert().success();
    let main = String::from_utf8_lossy(&main.get_output().stdout).into_owned();
    assert!(main.contains(".SH ENVIRONMENT"), "{main}");
    for setting in heapsnap_format::settings::SETTINGS {
        assert!(
            main.contains(setting.name),
            "{} missing:\n{main}",
            setting.name
        );
    }
    let leaks = heapsnap().args(["man", "leaks"]).assert().success();
    let leaks = String::from_utf8_lossy(&leaks.get_output().stdout).into_owned();
    for option in [
        "min\\-confidence",
        "fail",
        "pid",
        "format",
        "limit",
        "debug\\-dir",
    ] {
        assert!(leaks.contains(option), "{option} missing:\n{leaks}");
    }
    heapsnap()
        .args(["man", "nosuch"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the commands are top"));
}

#[test]
fn a_directory_names_its_newest_snapshot_on_standard_error() {
    for command in ["top", "pprof"] {
        let mut cmd = heapsnap();
        cmd.arg(command).arg(data("snapshots/engine"));
        if command == "pprof" {
            cmd.args(["-o", "-"]);
        }
        cmd.assert()
            .success()
            .stderr(predicate::str::contains("the newest snapshot"))
            .stderr(predicate::str::contains("heapsnap-000011"));
    }
}

#[test]
fn folded_stacks_carry_the_live_bytes() {
    let file = data("snapshots/ci-regression-64k.json");
    let output = heapsnap()
        .arg("flamegraph")
        .arg(&file)
        .args(["--folded", "-o", "-"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let total: u64 = text
        .lines()
        .map(|line| {
            let (stack, weight) = line.rsplit_once(' ').unwrap();
            assert!(stack.contains(';') && stack.ends_with(']'), "{line}");
            weight.parse::<u64>().unwrap()
        })
        .sum();
    let snapshot = heapsnap_format::Snapshot::read_from_path(&file).unwrap();
    assert_eq!(
        total,
        snapshot.sites.iter().map(|s| s.live_bytes).sum::<u64>()
    );
}

#[test]
fn focus_and_ignore_keep_the_sites_through_matching_code() {
    let file = data("snapshots/ci-regression-64k.json");
    let rows = |args: &[&str]| -> Vec<Value> {
        let output = heapsnap()
            .arg("top")
            .arg(&file)
            .args(["--format", "json", "--limit", "0"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        report["rows"].as_array().unwrap().clone()
    };
    let all = rows(&[]);
    let focused = rows(&["--focus", "remember_processed"]);
    let ignored = rows(&["--ignore", "remember_processed"]);
    assert!(!focused.is_empty() && focused.len() < all.len());
    assert_eq!(focused.len() + ignored.len(), all.len());
    let bytes = |rows: &[Value]| {
        rows.iter()
            .map(|r| r["live_bytes"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(bytes(&focused) + bytes(&ignored), bytes(&all));
    // The same on diff and flamegraph; a bad expression is bad usage.
    heapsnap()
        .arg("diff")
        .arg(data("snapshots/ci-base-64k.json"))
        .arg(&file)
        .args(["--focus", "remember_processed", "--format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("remember_processed"));
    heapsnap()
        .arg("flamegraph")
        .arg(&file)
        .args(["--ignore", ".", "--folded", "-o", "-"])
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    heapsnap()
        .arg("top")
        .arg(&file)
        .args(["--focus", "("])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("regular expression"));
}

#[test]
fn every_json_document_has_a_schema_version() {
    let file = data("snapshots/ci-regression-64k.json");
    let base = data("snapshots/ci-base-64k.json");
    let series = data("snapshots/engine");
    let runs: [Vec<&std::ffi::OsStr>; 3] = [
        vec!["top".as_ref(), file.as_os_str()],
        vec!["diff".as_ref(), base.as_os_str(), file.as_os_str()],
        vec!["leaks".as_ref(), series.as_os_str()],
    ];
    for args in runs {
        let output = heapsnap()
            .args(&args)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["schema_version"], 1, "{args:?}");
    }
}

/// The quickstart snapshot as a build without the README's settings would
/// have written it, in `dir`.
fn plain_build_snapshot(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(data("snapshots/quickstart.json")).unwrap();
    let mut snapshot: serde_json::Value = serde_json::from_str(&text).unwrap();
    snapshot["sampling"]["stack_walk"] = "backtrace".into();
    snapshot["sampling"]["build"] = serde_json::json!({
        "v0_symbols": false,
        "addresses": 40,
        "named": 40,
        "with_lines": 2,
    });
    let path = dir.join("plain.json");
    std::fs::write(&path, serde_json::to_vec(&snapshot).unwrap()).unwrap();
    path
}

#[test]
fn every_command_warns_of_a_degraded_build_once_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let plain = plain_build_snapshot(dir.path());
    // A later snapshot of the same process, for a leak report.
    let mut later: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plain).unwrap()).unwrap();
    for (field, by) in [("seq", 1), ("uptime_ms", 1000), ("taken_at_ms", 1000)] {
        later[field] = (later[field].as_u64().unwrap() + by).into();
    }
    let later_path = dir.path().join("plain-later.json");
    std::fs::write(&later_path, serde_json::to_vec(&later).unwrap()).unwrap();
    let (plain, later) = (plain.to_str().unwrap(), later_path.to_str().unwrap());
    let svg = dir.path().join("heap.svg");
    let pb = dir.path().join("heap.pb.gz");
    let html = dir.path().join("report.html");
    let runs: Vec<Vec<&str>> = vec![
        vec!["top", plain],
        vec!["flamegraph", plain, "-o", svg.to_str().unwrap()],
        vec!["diff", plain, plain],
        vec!["leaks", plain, later],
        vec!["pprof", plain, "-o", pb.to_str().unwrap()],
        vec!["report", plain, "-o", html.to_str().unwrap()],
    ];
    for args in runs {
        let output = heapsnap().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr
                .matches("heapsnap: warning: this snapshot's build lacks")
                .count(),
            1,
            "{args:?}: {stderr}"
        );
        for fix in [
            "force-frame-pointers=yes",
            "symbol-mangling-version=v0",
            "RUSTFLAGS",
            r#"debug = "limited""#,
        ] {
            assert!(stderr.contains(fix), "{args:?}: {stderr}");
        }
        // What is missing in a line a terminal shows whole; the fix on
        // the next.
        let first = stderr
            .lines()
            .find(|l| l.starts_with("heapsnap: warning: this snapshot's build lacks"))
            .unwrap();
        assert!(first.chars().count() <= 160, "{first}");
        assert!(stderr.contains("heapsnap: fix: "), "{stderr}");
        // A leak report, whose verdicts such a build weakens, is followed
        // by the warning again.
        let repeated = stderr.contains("these verdicts come from a build without");
        assert_eq!(repeated, args[0] == "leaks", "{args:?}: {stderr}");
    }
    // A good build, or an older writer's snapshot, says nothing.
    let q = data("snapshots/quickstart.json");
    let output = heapsnap().arg("top").arg(&q).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("warning"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn top_and_leaks_say_when_samples_were_merged_past_the_site_cap() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data("snapshots/quickstart.json")).unwrap();
    let mut snapshot: serde_json::Value = serde_json::from_str(&text).unwrap();
    snapshot["totals"]["samples_merged"] = 1234.into();
    let path = dir.path().join("merged.json");
    std::fs::write(&path, serde_json::to_vec(&snapshot).unwrap()).unwrap();
    heapsnap()
        .arg("top")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1,234 samples of stacks past the site table's cap (HEAPSNAP_MAX_SITES)",
        ));
    let mut later = snapshot.clone();
    later["seq"] = 1.into();
    later["uptime_ms"] = (snapshot["uptime_ms"].as_u64().unwrap() + 1000).into();
    later["taken_at_ms"] = (snapshot["taken_at_ms"].as_u64().unwrap() + 1000).into();
    let second = dir.path().join("merged-later.json");
    std::fs::write(&second, serde_json::to_vec(&later).unwrap()).unwrap();
    heapsnap()
        .arg("leaks")
        .arg(&path)
        .arg(&second)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1234 samples of new stacks came after the profiler's site table was full",
        ));
}

#[test]
fn top_says_when_the_profilers_locks_stalled_threads() {
    let scratch = Scratch::new();
    let stall = "the profiler's locks";
    for (hold, wait, shown) in [(900, 40, false), (2500, 12_000, true)] {
        let path = scratch.file(
            &format!("stall-{wait}.json"),
            &edited(|s| {
                s["capture"]["max_pause_us"] = hold.into();
                s["capture"]["max_wait_us"] = wait.into();
            }),
        );
        let output = heapsnap().arg("top").arg(&path).output().unwrap();
        assert!(output.status.success());
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.contains(stall), shown, "{stdout}");
        if shown {
            assert!(
                stdout.contains("held up to 2 ms, a thread waited up to 12 ms"),
                "{stdout}"
            );
        }
        let json = heapsnap()
            .args(["top", "--format", "json"])
            .arg(&path)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(json["summary"]["capture"]["max_wait_us"], wait, "{json}");
    }
}

/// Past 999,999 a snapshot's number has seven digits: a directory's
/// newest is the highest number, not the last name in byte order; a number
/// near `u64::MAX` is one like any other.
#[test]
fn a_directory_is_ordered_by_its_numbers() {
    let scratch = Scratch::new();
    let dir = scratch.path();
    let snapshot = |uptime_ms: u64| {
        let mut snap = valid();
        snap["uptime_ms"] = json!(uptime_ms);
        serde_json::to_vec(&snap).unwrap()
    };
    scratch.file("heapsnap-999999-1-interval.json", &snapshot(1_000));
    scratch.file("heapsnap-1000008-1-interval.json", &snapshot(2_000));
    let output = heapsnap().arg("top").arg(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("heapsnap-1000008-1-interval.json"),
        "{stderr}"
    );
    scratch.file(
        &format!("heapsnap-{}-1-interval.json", u64::MAX),
        &snapshot(3_000),
    );
    let output = heapsnap().arg("top").arg(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("heapsnap-18446744073709551615-1"),
        "{stderr}"
    );
}

/// A run that ended gracefully: its state dropped over six snapshots of
/// its last two seconds (a real run of `benches/field`'s session store,
/// 5 s of traffic at 512 KiB, dumps every 500 ms). Every command on the
/// directory takes the newest snapshot taken while it served, says so, and
/// the leak's holder is named.
#[test]
fn a_directory_means_its_run_while_it_served() {
    let dir = data("snapshots/drain");
    let serving = "heapsnap-000010-13932-growth";
    for args in [
        vec!["top"],
        vec!["pprof", "-o", "-"],
        vec!["flamegraph", "-o", "-"],
    ] {
        let output = heapsnap()
            .arg(args[0])
            .arg(&dir)
            .args(&args[1..])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("taken during teardown"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(serving), "{args:?}: {stderr}");
    }
    let top = heapsnap().arg("top").arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&top.stdout);
    assert!(stdout.contains("read_request_body"), "{stdout}");
    let diff = heapsnap().arg("diff").arg(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&diff.stderr);
    assert!(
        stderr.contains("comparing")
            && stderr.contains("heapsnap-000001-13932-start")
            && stderr.contains(serving),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&diff.stdout);
    assert!(stdout.contains("read_request_body"), "{stdout}");
    let leaks = heapsnap()
        .args(["leaks", "--format", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&leaks.stdout).unwrap();
    let first = &report["suspects"][0];
    assert_eq!(first["type"], "HashMap<u64, Vec<u8>>", "{report:#}");
    assert!(
        first["function"]
            .as_str()
            .unwrap()
            .ends_with("SessionStore>::open")
    );
    assert_eq!(first["holder_evidence"]["kind"], "pointers");
    assert_eq!(report["snapshots"], 10);
}

/// The leaky server dumping under a memory limit: its third last snapshot
/// was written reduced (no ages) because a full one would not have fit.
/// Read with the others it made every sample look dead and born again,
/// and the leak "no trend"; it is left out of the trends, and said so.
#[test]
fn a_reduced_near_limit_snapshot_does_not_hide_the_leak() {
    let dir = data("snapshots/near-limit");
    let leaks = heapsnap()
        .args(["leaks", "--format", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(leaks.status.success());
    let report: Value = serde_json::from_slice(&leaks.stdout).unwrap();
    let first = &report["suspects"][0];
    assert_eq!(
        first["function"], "<leaky_server::ips::Ips>::bind",
        "{report:#}"
    );
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("heapsnap-000032-24909-near-limit") && notes.contains("no ages"),
        "{notes}"
    );
    // 17 of the 19 snapshots are judged: the exit dump, taken once the
    // server stopped serving (nothing allocated, the heap falling), is
    // left out too. `top` still reads the reduced one.
    assert!(notes.contains("stopped serving"), "{notes}");
    assert_eq!(report["snapshots"], 17);
    let top = heapsnap()
        .arg("top")
        .arg(dir.join("heapsnap-000032-24909-near-limit.json.gz"))
        .output()
        .unwrap();
    assert!(top.status.success());
    assert!(String::from_utf8_lossy(&top.stdout).contains("ChannelContext>::new"));
}

/// A recorded series whose scans are rewritten as `state`, in `dir`.
fn drain_run_scanned_as(dir: &Path, state: &str) {
    use std::io::Read;
    for entry in std::fs::read_dir(data("snapshots/drain")).unwrap() {
        let path = entry.unwrap().path();
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let mut snapshot: Value = serde_json::from_str(&text).unwrap();
        snapshot["scan"]["state"] = state.into();
        let name = path.file_name().unwrap().to_str().unwrap();
        std::fs::write(
            dir.join(name.trim_end_matches(".gz")),
            serde_json::to_vec(&snapshot).unwrap(),
        )
        .unwrap();
    }
}

/// The leak report says what its suspects were judged without: the
/// kernel's refusal of the scan, the setting that turned it off, or scans
/// stopped at their time limit, counted; whole scans go unsaid.
#[test]
fn leaks_say_why_the_heap_graph_is_missing_or_partial() {
    for (state, said) in [
        ("refused", Some("the kernel refused the heap scan's reads")),
        ("off", Some("the heap scan was off (HEAPSNAP_SCAN=off)")),
        (
            "out_of_time",
            Some("the heap scan stopped at its time limit in 5 of the 5 snapshots judged"),
        ),
        ("done", None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        drain_run_scanned_as(dir.path(), state);
        let output = heapsnap().arg("leaks").arg(dir.path()).output().unwrap();
        assert!(output.status.success(), "{state}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.contains("Leak suspects:"), "{state}: {stdout}");
        match said {
            Some(said) => assert!(stdout.contains(said), "{state}: {stdout}"),
            None => assert!(
                !stdout.contains("heap scan") && !stdout.contains("no heap graph"),
                "{stdout}"
            ),
        }
    }
}
