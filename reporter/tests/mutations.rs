//! Mutated snapshots through every report: thousands of seeded mutations of
//! real snapshots (values replaced by extreme numbers, hostile strings,
//! wrong types; keys removed; bytes flipped, cut and inserted; gzip), each
//! loaded and, when it loads, named offline where it can be (`symbolize`,
//! as every command does first), run through `top` (every grouping),
//! `flamegraph` (plain, by type, differential), `diff`, `leaks`, `pprof`
//! and the HTML `report`, and every renderer. None may panic. A sample of them also goes through the
//! `heapsnap` binary: exit 0, or 2 with one line naming the file.
//!
//! Seeded: a failure names its case, which reproduces with
//! `HEAPSNAP_MUTATION_SEED=<seed> HEAPSNAP_MUTATION_CASES=1`.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use heapsnap_report::symbolize::{self, Symbolizer};
use heapsnap_report::{Loaded, diff, flame, leaks, load, render, report, top};
use serde_json::{Value, json};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// xorshift64*: small, seeded, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The snapshots mutated: every kind the reporter reads.
fn originals() -> Vec<Vec<u8>> {
    let mut files = vec![
        data("snapshots/quickstart.json"),
        data("snapshots/collections.json"),
        data("snapshots/ci-base.json"),
    ];
    let mut series: Vec<PathBuf> = std::fs::read_dir(data("snapshots/engine"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    series.sort();
    files.extend(series.into_iter().take(2));
    files.push(
        std::fs::read_dir(data("snapshots/engine-v1"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .min()
            .unwrap(),
    );
    files
        .iter()
        .map(|path| {
            let loaded = load::one(path.to_str().unwrap()).unwrap();
            serde_json::to_vec(&loaded.snapshot).unwrap()
        })
        .collect()
}

/// A value a field should never hold, or might.
fn hostile(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => json!(u64::MAX),
        1 => json!((1u64 << 60) - 1),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(1e308),
        5 => json!(-0.0),
        6 => json!(""),
        7 => json!("x".repeat(10_000)),
        8 => json!("\u{1b}]0;title\u{7}\u{1}\u{202e};<&>\"'\n"),
        9 => Value::Null,
        10 => json!([]),
        11 => json!({}),
        12 => json!(true),
        13 => json!(4_294_967_295u64),
        14 => json!(0.5),
        _ => json!([0, 1, 2, u64::MAX]),
    }
}

/// Walks to a random place in `value` and changes it.
fn mutate_value(value: &mut Value, rng: &mut Rng) {
    // The place, as a JSON pointer, found by looking first.
    let mut pointer = String::new();
    let mut here = &*value;
    for _ in 0..rng.below(6) {
        let step = match here {
            Value::Object(map) if !map.is_empty() => {
                let key = map.keys().nth(rng.below(map.len())).unwrap();
                Some((key.replace('~', "~0").replace('/', "~1"), &map[key]))
            }
            Value::Array(items) if !items.is_empty() => {
                let i = rng.below(items.len());
                Some((i.to_string(), &items[i]))
            }
            _ => None,
        };
        let Some((name, next)) = step else { break };
        pointer.push('/');
        pointer.push_str(&name);
        here = next;
    }
    let choice = rng.below(4);
    let replacement = hostile(rng);
    let pick = rng.next() as usize;
    let Some(here) = value.pointer_mut(&pointer) else {
        return;
    };
    match (choice, here) {
        (0, Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(pick % map.len()).cloned().unwrap();
            map.remove(&key);
        }
        (1, Value::Array(items)) if !items.is_empty() => {
            let copy = items[pick % items.len()].clone();
            items.push(copy);
        }
        // Mostly a value of the same kind, so that more cases load and
        // reach the reports: numbers far out of their range, hostile text.
        (_, here) if choice != 3 => *here = alike(here, pick, replacement),
        (_, here) => *here = replacement,
    }
}

/// One frame's name made long, and that frame put on every stack: a name
/// stored once that every site shares (a reader that copied it per site
/// once took gigabytes for a small file).
fn share_a_long_name(value: &mut Value, rng: &mut Rng) {
    let Some(frames) = value.get_mut("frames").and_then(Value::as_array_mut) else {
        return;
    };
    if frames.is_empty() {
        return;
    }
    let at = rng.below(frames.len());
    frames[at]["function"] = json!(format!("app::{}", "n".repeat(64 << 10)));
    if let Some(stacks) = value.get_mut("stacks").and_then(Value::as_array_mut) {
        for stack in stacks.iter_mut().filter_map(Value::as_array_mut) {
            stack.push(json!(at));
        }
    }
}

/// A value of the same kind as `value`, extreme or hostile.
fn alike(value: &Value, pick: usize, otherwise: Value) -> Value {
    match value {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            match pick % 8 {
                0 => json!(0),
                1 => json!(1),
                2 => json!((x * 1000.0).round() as u64),
                3 => json!((x / 2.0).floor() as u64),
                4 => json!(1u64 << 59),
                5 => json!((x as u64).saturating_add(1)),
                6 => json!(u32::MAX),
                _ => json!(x * 1e6),
            }
        }
        Value::String(text) => match pick % 4 {
            0 => json!(""),
            1 => json!(format!("{text}\u{1b}[2J\u{7}")),
            2 => json!(format!("{text}<&>;\n{text}")),
            _ => json!(text.repeat(50)),
        },
        _ => otherwise,
    }
}

fn mutate(original: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = if rng.below(4) == 0 {
        // Byte level: flips, a cut, an insertion.
        let mut bytes = original.to_vec();
        for _ in 0..=rng.below(4) {
            let i = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes[i] ^= 1 << rng.below(8),
                1 => bytes.truncate(i),
                _ => bytes.insert(i, rng.next() as u8),
            }
            if bytes.is_empty() {
                break;
            }
        }
        bytes
    } else {
        let mut value: Value = serde_json::from_slice(original).unwrap();
        if rng.below(16) == 0 {
            share_a_long_name(&mut value, rng);
        }
        for _ in 0..=rng.below(3) {
            mutate_value(&mut value, rng);
        }
        serde_json::to_vec(&value).unwrap()
    };
    if rng.below(8) == 0 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        bytes = gz.finish().unwrap();
    }
    bytes
}

/// Every report and renderer over a snapshot that loaded, beside the
/// original it was mutated from.
fn every_report(case: &Loaded, original: &Loaded) {
    let mut out = Vec::new();
    // The module paths are the snapshot's word: a symboliser looks at
    // files on this machine, and must take any path calmly.
    let mut named = case.snapshot.clone();
    Symbolizer::new(symbolize::Options::default())
        .unwrap()
        .symbolize(&mut named);
    named.validate().unwrap();
    let _ = heapsnap_format::pprof::gzipped(&case.snapshot);
    for by in [
        top::GroupBy::Site,
        top::GroupBy::Type,
        top::GroupBy::Tag,
        top::GroupBy::Function,
    ] {
        let mut options = top::Options::default();
        options.by = by;
        options.limit = 0;
        let report = top::top(case, &options);
        render::text::top(&report, &mut out).unwrap();
        render::json::write(&report, &mut out).unwrap();
    }
    for by_type in [false, true] {
        let mut options = flame::Options::default();
        options.by_type = by_type;
        flame::flamegraph(case, &options, &mut out).unwrap();
        let _ = flame::folded(case, &options);
    }
    flame::differential(original, case, &flame::Options::default(), &mut out).unwrap();
    let report = diff::diff(original, case, &diff::Options::default());
    render::text::diff(&report, &mut out).unwrap();
    render::markdown::diff(&report, &mut out).unwrap();
    render::json::write(&report, &mut out).unwrap();
    for series in [[original, case], [case, case]] {
        let series: Vec<Loaded> = series
            .iter()
            .map(|l| Loaded {
                source: l.source.clone(),
                snapshot: l.snapshot.clone(),
            })
            .collect();
        if let Ok(report) = leaks::leaks(&series, &leaks::Options::default()) {
            render::text::leaks(&report, &mut out).unwrap();
            render::markdown::leaks(&report, &mut out).unwrap();
            render::json::write(&report, &mut out).unwrap();
        }
        if let Ok(page) = report::report(&series, &report::Options::default()) {
            render::html::write(&page, &mut out).unwrap();
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_snapshots_never_panic_any_report() {
    let originals = originals();
    let loaded: Vec<Loaded> = originals
        .iter()
        .map(|bytes| load::from_reader("original", bytes.as_slice()).unwrap())
        .collect();
    let first_seed = env_number("HEAPSNAP_MUTATION_SEED", 1);
    let cases = env_number("HEAPSNAP_MUTATION_CASES", 3000);
    let (mut accepted, mut refused) = (0, 0);
    for seed in first_seed..first_seed + cases {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let which = rng.below(originals.len());
        let bytes = mutate(&originals[which], &mut rng);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            match load::from_reader("case", bytes.as_slice()) {
                Ok(case) => {
                    every_report(&case, &loaded[which]);
                    true
                }
                Err(err) => {
                    // Every refusal names its source.
                    assert!(err.to_string().starts_with("case"), "{err}");
                    false
                }
            }
        }));
        match outcome {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!(
                "seed {seed} panicked (HEAPSNAP_MUTATION_SEED={seed} HEAPSNAP_MUTATION_CASES=1)"
            ),
        }
    }
    eprintln!("{cases} cases: {accepted} loaded and reported, {refused} refused");
    // The mutations must exercise both paths, or they test nothing.
    assert!(
        accepted > cases / 10 && refused > cases / 10,
        "{accepted} / {refused}"
    );
}

/// The binary on a sample of the same mutations: exit 0, or exit 2 with
/// exactly one line on standard error, naming the file.
#[test]
fn mutated_snapshots_exit_0_or_2_with_one_line() {
    let originals = originals();
    let scratch = tempfile::tempdir().unwrap();
    let original_path = scratch.path().join("original.json");
    std::fs::write(&original_path, &originals[0]).unwrap();
    let original_path = original_path.to_str().unwrap().to_owned();
    let cases = env_number("HEAPSNAP_MUTATION_BINARY_CASES", 150);
    for seed in 1..=cases {
        let mut rng = Rng(seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
        let bytes = mutate(&originals[0], &mut rng);
        let path = scratch.path().join(format!("case-{seed}.json"));
        std::fs::write(&path, &bytes).unwrap();
        let path = path.to_str().unwrap();
        let command: Vec<&str> = match seed % 6 {
            0 => vec!["top", path],
            1 => vec!["flamegraph", path, "-o", "-"],
            2 => vec!["diff", &original_path, path],
            3 => vec!["pprof", path, "-o", "-"],
            4 => vec!["report", &original_path, path, "-o", "-"],
            _ => vec!["leaks", &original_path, path],
        };
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_heapsnap"))
            .args(&command)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) => {}
            Some(2) => {
                assert_eq!(
                    stderr.lines().count(),
                    1,
                    "seed {seed} {command:?}: {stderr}"
                );
                assert!(
                    stderr.contains(path)
                        || stderr.contains(&original_path)
                        || matches!(command[0], "leaks" | "report"),
                    "seed {seed} {command:?}: {stderr}"
                );
            }
            other => panic!("seed {seed} {command:?}: exit {other:?}: {stderr}"),
        }
    }
}
