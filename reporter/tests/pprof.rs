//! `heapsnap pprof`: a snapshot as a gzipped pprof profile whose figures
//! are the snapshot's, readable by `go tool pprof` (run when `go` is
//! installed; CI installs it and then requires it).

mod tools;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;
use heapsnap_format::Snapshot;
use heapsnap_format::names::as_path;
use heapsnap_format::pprof::Profile;
use prost::Message;

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Converts `snapshot` with the binary into `dir/name`; returns that file.
fn convert_to(snapshot: &Path, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    Command::cargo_bin("heapsnap")
        .unwrap()
        .arg("pprof")
        .arg(snapshot)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    out
}

fn convert(snapshot: &Path, dir: &Path) -> PathBuf {
    convert_to(snapshot, dir, "heap.pb.gz")
}

fn decode(path: &Path) -> Profile {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    Profile::decode(bytes.as_slice()).unwrap()
}

#[test]
fn the_profile_holds_the_snapshots_figures_stacks_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let source = data("snapshots/ci-regression-64k.json");
    let snapshot = Snapshot::read_from_path(&source).unwrap();
    let profile = decode(&convert(&source, dir.path()));
    let string = |i: i64| profile.string_table[i as usize].as_str();

    assert_eq!(string(0), "");
    let types: Vec<(&str, &str)> = profile
        .sample_type
        .iter()
        .map(|t| (string(t.r#type), string(t.unit)))
        .collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes")
        ]
    );
    assert_eq!(string(profile.default_sample_type), "inuse_space");
    let period = profile.period_type.as_ref().unwrap();
    assert_eq!(
        (string(period.r#type), string(period.unit)),
        ("space", "bytes")
    );
    assert_eq!(profile.period as u64, snapshot.sampling.interval_bytes);

    // The same live bytes and counts, site by site summed.
    let total = |k: usize| profile.sample.iter().map(|s| s.value[k]).sum::<i64>() as u64;
    let live: u64 = snapshot.sites.iter().map(|s| s.live_bytes).sum();
    let allocs: u64 = snapshot.sites.iter().map(|s| s.live_allocs).sum();
    let allocated: u64 = snapshot.sites.iter().map(|s| s.allocated_bytes).sum();
    assert_eq!(total(3), live);
    assert_eq!(total(2), allocs);
    assert_eq!(total(1), allocated);

    // Every sample's stack resolves, leaf first, to functions with files.
    let location_ids: Vec<u64> = profile.location.iter().map(|l| l.id).collect();
    for sample in &profile.sample {
        assert!(!sample.location_id.is_empty());
        assert!(
            sample
                .location_id
                .iter()
                .all(|id| location_ids.contains(id))
        );
    }
    assert!(profile.location.iter().all(|l| !l.line.is_empty()));
    let names: Vec<&str> = profile.function.iter().map(|f| string(f.name)).collect();
    assert!(
        names.iter().any(|n| n.ends_with("ci_workload::main")),
        "{names:?}"
    );
    // Each inlined frame is a line of its caller's location, not a location.
    let frames = snapshot.frames.len();
    let lines: usize = profile.location.iter().map(|l| l.line.len()).sum();
    assert!(profile.location.len() < lines && lines <= frames);

    // Types as labels, for -tagfocus and label views.
    let labelled = |ty: &str| {
        profile.sample.iter().any(|s| {
            s.label
                .iter()
                .any(|l| string(l.key) == "type" && string(l.str) == ty)
        })
    };
    assert!(labelled("HashMap<u64, Record>"));
    assert!(labelled("Vec<Record>"));

    // Mappings with the binary's build id.
    let build_id = snapshot.process.build_id.clone().unwrap();
    assert!(
        profile
            .mapping
            .iter()
            .any(|m| string(m.build_id) == build_id)
    );
}

fn go() -> Option<PathBuf> {
    tools::find(&["go"], "version", "golang-go")
}

#[test]
fn go_tool_pprof_reads_it() {
    let Some(go) = go() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = data("snapshots/ci-regression-64k.json");
    let profile = convert(&source, dir.path());
    let profile = profile.to_str().unwrap();
    let text = pprof(
        &go,
        dir.path(),
        &["-top", "-sample_index=inuse_space", profile],
    );
    assert!(text.contains("Type: inuse_space"), "{text}");
    assert!(text.contains("ci_workload::load"), "{text}");
    // Flat bytes go to the program's allocating functions, not to the
    // allocation machinery (`RawVecInner::try_allocate_in`).
    let first_row = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .nth(1)
        .unwrap_or("");
    assert!(first_row.contains("ci_workload::"), "{text}");
    assert!(!text.contains("raw_vec"), "{text}");
    let text = pprof(
        &go,
        dir.path(),
        &["-top", "-tagfocus=type=Vec<Record>", profile],
    );
    assert!(text.contains("tagfocus=type=Vec<Record>"), "{text}");
    assert!(text.contains("ci_workload::"), "{text}");
}

/// `go tool pprof ARGS...` in `dir`; its standard output.
fn pprof(go: &Path, dir: &Path, args: &[&str]) -> String {
    let output = Process::new(go)
        .arg("tool")
        .arg("pprof")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("PPROF_TMPDIR", dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "go tool pprof {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `cum` column of `-top`'s line for function `name`, in bytes.
fn cum_bytes(top: &str, name: &str) -> Option<f64> {
    top.lines().find_map(|line| {
        let columns: Vec<&str> = line.split_whitespace().collect();
        let function = columns.get(5..)?.join(" ");
        let function = function.strip_suffix(" (inline)").unwrap_or(&function);
        (function == name).then(|| bytes(columns[3]))?
    })
}

/// `12.5MB` and the like (pprof's units are binary).
fn bytes(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// What the snapshot holds live under `function` (the bytes of every site
/// whose stack passes through it): its `cum` in pprof.
fn live_under(snapshot: &Snapshot, function: &str) -> f64 {
    snapshot
        .sites
        .iter()
        .filter(|site| {
            snapshot
                .site_frames(site)
                .any(|f| f.function.as_deref() == Some(function))
        })
        .map(|site| site.live_bytes as f64)
        .sum()
}

#[test]
fn go_tool_pprof_names_the_leak_with_its_bytes_and_growth() {
    let Some(go) = go() else {
        return;
    };
    // A leaking example's series, and the function heapsnap blames.
    let series = data("snapshots/engine");
    let loaded = heapsnap_report::load::many(&[series.display().to_string()]).unwrap();
    let report = heapsnap_report::leaks::leaks(&loaded, &Default::default()).unwrap();
    let function = report.suspects[0].function.clone();
    let name = as_path(&function);
    let (first, last) = (&loaded[0], loaded.last().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let base = convert_to(Path::new(&first.source), dir.path(), "base.pb.gz");
    let new = convert_to(Path::new(&last.source), dir.path(), "new.pb.gz");
    let (base, new) = (base.to_str().unwrap(), new.to_str().unwrap());
    let close = |seen: f64, want: f64| (seen - want).abs() <= want.abs() * 0.005 + 1024.0;

    // -top: the function, with the live bytes under it.
    let top = pprof(
        &go,
        dir.path(),
        &["-top", "-cum", "-sample_index=inuse_space", new],
    );
    let want = live_under(&last.snapshot, &function);
    let seen = cum_bytes(&top, &name).unwrap_or_else(|| panic!("{name} not in:\n{top}"));
    assert!(
        close(seen, want),
        "{name}: {seen} in pprof, {want} in the snapshot"
    );

    // -diff_base: its growth between the first snapshot and the last.
    let diff = pprof(&go, dir.path(), &["-top", "-cum", "-diff_base", base, new]);
    let grown = want - live_under(&first.snapshot, &function);
    let seen = cum_bytes(&diff, &name).unwrap_or_else(|| panic!("{name} not in:\n{diff}"));
    assert!(
        grown > 0.0 && close(seen, grown),
        "{name}: grew {seen} in pprof, {grown} here"
    );

    // -raw: the mappings, with the build id.
    let raw = pprof(&go, dir.path(), &["-raw", new]);
    let build_id = last.snapshot.process.build_id.clone().unwrap();
    let mappings = raw.split("Mappings").nth(1).unwrap_or_default();
    assert!(mappings.contains(&build_id), "{raw}");
}
