//! Reading snapshots: parse, then check that every index points somewhere
//! and every number is possible, so readers can index without checking.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::error::Category;

use super::{AgeBucket, Error, ErrorKind, FORMAT, Site, Snapshot, VERSION};
use crate::file;

/// More JSON than this, uncompressed, is not a snapshot but a gzip bomb.
const MAX_UNCOMPRESSED: u64 = 4 << 30;

/// No heap, count or rate in a real snapshot comes near 2^60 (one EiB).
const IMPLAUSIBLE: u64 = 1 << 60;

impl Snapshot {
    /// Reads and validates a snapshot file, JSON or gzip-compressed JSON
    /// (at most 4 GiB of it uncompressed). Errors name the file.
    pub fn read_from_path(path: impl AsRef<Path>) -> Result<Snapshot, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|err| Error::from(err).at(path))?;
        Snapshot::from_file_bytes(&bytes).map_err(|err| err.at(path))
    }

    /// Reads and validates a snapshot from a reader, JSON or
    /// gzip-compressed JSON.
    pub fn read_from(mut reader: impl Read) -> Result<Snapshot, Error> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        Snapshot::from_file_bytes(&bytes)
    }

    /// A file's bytes, uncompressed first if they are gzip.
    fn from_file_bytes(bytes: &[u8]) -> Result<Snapshot, Error> {
        if bytes.starts_with(&file::GZIP_MAGIC) {
            let json = file::gunzip_bounded(bytes, MAX_UNCOMPRESSED)
                .map_err(|err| Error::new(ErrorKind::NotJson(format!("not valid gzip: {err}"))))?
                .ok_or_else(|| {
                    Error::new(ErrorKind::Invalid(
                        "more than 4 GiB of JSON once uncompressed".into(),
                    ))
                })?;
            Snapshot::from_slice(&json)
        } else {
            Snapshot::from_slice(bytes)
        }
    }

    /// Parses and validates a snapshot's JSON held in memory (a caller
    /// that reads files uncompresses them first, within its own bounds); a
    /// file of version 1 is converted to the current version's types.
    pub fn from_slice(bytes: &[u8]) -> Result<Snapshot, Error> {
        match serde_json::from_slice::<Snapshot>(bytes) {
            Ok(mut snapshot) => {
                snapshot.validate()?;
                snapshot.upgrade();
                Ok(snapshot)
            }
            Err(err) => Err(explain(bytes, err)),
        }
    }

    /// Version 1 kept live bytes by age only, in coarse buckets, and no
    /// variance of the live count: the sample counts and squares of each
    /// bucket are apportioned from its bytes, and the count's variance
    /// estimated, as if every sample of the site stood for the same bytes.
    fn upgrade(&mut self) {
        let sampled = self.sampling.interval_bytes > 1;
        for site in &mut self.sites {
            if self.version == 1 && sampled && site.live_samples > 0 {
                // Each sample stands for `w` allocations, on average: its
                // count's variance is about `w·(w − 1)`.
                let w = site.live_allocs as f64 / site.live_samples as f64;
                site.live_allocs_var = site.live_samples as f64 * w * (w - 1.0).max(0.0);
            }
            let legacy = std::mem::take(&mut site.legacy_bytes_by_age);
            if legacy.is_empty() || !site.live_by_age.is_empty() {
                continue;
            }
            let per_sample = site.live_bytes as f64 / site.live_samples.max(1) as f64;
            site.live_bytes_sq = site.live_bytes as f64 * per_sample;
            site.live_by_age = legacy
                .iter()
                .enumerate()
                .filter(|&(_, &bytes)| bytes > 0)
                .map(|(bucket, &bytes)| {
                    let samples = (bytes as f64 / per_sample.max(1.0)).round() as u64;
                    AgeBucket::new(bucket as u16, samples, bytes, bytes as f64 * per_sample)
                })
                .collect();
        }
    }

    /// Checks that the snapshot is of a known version and consistent: every
    /// frame, stack and age index points somewhere, and every number is
    /// possible.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |detail: String| Err(Error::new(ErrorKind::Invalid(detail)));
        if self.format != FORMAT {
            return Err(Error::new(ErrorKind::NotASnapshot(Some(
                self.format.clone(),
            ))));
        }
        check_version(self.version as u64)?;
        if !self.age_buckets_ms.windows(2).all(|w| w[0] < w[1]) {
            return invalid("age_buckets_ms is not increasing".into());
        }
        for (i, stack) in self.stacks.iter().enumerate() {
            if let Some(&bad) = stack.iter().find(|&&f| f as usize >= self.frames.len()) {
                return invalid(format!(
                    "stack {i} refers to frame {bad}, but there are {} frames",
                    self.frames.len()
                ));
            }
        }
        let t = &self.totals;
        for (name, value) in [
            ("totals.live_bytes", t.live_bytes),
            ("totals.live_allocs", t.live_allocs),
            ("totals.allocated_bytes", t.allocated_bytes),
            ("totals.allocated_allocs", t.allocated_allocs),
            ("totals.freed_bytes", t.freed_bytes),
            ("totals.freed_allocs", t.freed_allocs),
            ("sampling.interval_bytes", self.sampling.interval_bytes),
        ] {
            if value >= IMPLAUSIBLE {
                return invalid(format!("{name} is {value}, more than any real heap"));
            }
        }
        // Each site's figures are plausible below; their sums must be too,
        // so that every reader may add them up without overflow.
        let sum = |field: fn(&Site) -> u64| -> u128 {
            self.sites.iter().map(|s| u128::from(field(s))).sum()
        };
        for (name, total) in [
            ("live_bytes", sum(|s| s.live_bytes)),
            ("live_allocs", sum(|s| s.live_allocs)),
            ("allocated_bytes", sum(|s| s.allocated_bytes)),
            ("allocated_allocs", sum(|s| s.allocated_allocs)),
            ("freed_bytes", sum(|s| s.freed_bytes)),
            ("freed_allocs", sum(|s| s.freed_allocs)),
        ] {
            if total >= u128::from(IMPLAUSIBLE) {
                return invalid(format!(
                    "the sites' {name} add up to {total}, more than any real heap"
                ));
            }
        }
        for (i, site) in self.sites.iter().enumerate() {
            if site.stack as usize >= self.stacks.len() {
                return invalid(format!(
                    "site {i} refers to stack {}, but there are {} stacks",
                    site.stack,
                    self.stacks.len()
                ));
            }
            let ages = site.legacy_bytes_by_age.len();
            if ages != 0 && ages != self.age_buckets_ms.len() + 1 {
                return invalid(format!(
                    "site {i} has {ages} age buckets, but age_buckets_ms defines {}",
                    self.age_buckets_ms.len() + 1
                ));
            }
            if let Err(problem) = self.check_ages(site) {
                return invalid(format!("site {i} {problem}"));
            }
            for (name, value) in [
                ("live_bytes", site.live_bytes),
                ("live_allocs", site.live_allocs),
                ("allocated_bytes", site.allocated_bytes),
                ("allocated_allocs", site.allocated_allocs),
                ("freed_bytes", site.freed_bytes),
                ("freed_allocs", site.freed_allocs),
                ("live_samples", site.live_samples),
            ] {
                if value >= IMPLAUSIBLE {
                    return invalid(format!(
                        "site {i} has {name} {value}, more than any real heap"
                    ));
                }
            }
            for (name, value) in [
                ("live_bytes_var", site.live_bytes_var),
                ("live_allocs_var", site.live_allocs_var),
                ("live_bytes_sq", site.live_bytes_sq),
            ] {
                if !(value.is_finite() && value >= 0.0) {
                    return invalid(format!("site {i} has a negative {name}"));
                }
            }
        }
        for (i, r) in self.refs.iter().enumerate() {
            let sites = self.sites.len();
            if r.from as usize >= sites || r.to as usize >= sites {
                return invalid(format!(
                    "ref {i} joins sites {} and {}, but there are {sites} sites",
                    r.from, r.to
                ));
            }
            if r.direct > r.held || r.held >= IMPLAUSIBLE || r.holders >= IMPLAUSIBLE {
                return invalid(format!(
                    "ref {i} has {} direct of {} held blocks",
                    r.direct, r.held
                ));
            }
            if !(r.followed > 0.0 && r.followed <= 1.0) {
                return invalid(format!(
                    "ref {i} was followed at a chance of {}",
                    r.followed
                ));
            }
        }
        if let Some(scan) = &self.scan
            && !(scan.chased_fraction.is_finite() && (0.0..=1.0).contains(&scan.chased_fraction))
        {
            return invalid("scan.chased_fraction is not a fraction".into());
        }
        Ok(())
    }
}

impl Snapshot {
    /// A site's ages: buckets that exist, youngest first, each once, with
    /// as many samples in all as the site has live.
    fn check_ages(&self, site: &Site) -> Result<(), String> {
        let buckets = self.age_buckets_ms.len() + 1;
        let mut samples = 0u64;
        let mut previous: Option<u16> = None;
        for age in &site.live_by_age {
            if age.bucket as usize >= buckets {
                return Err(format!(
                    "has age bucket {}, but age_buckets_ms defines {buckets}",
                    age.bucket
                ));
            }
            if previous.is_some_and(|p| p >= age.bucket) {
                return Err("has age buckets out of order".into());
            }
            if !(age.bytes_sq.is_finite() && age.bytes_sq >= 0.0) {
                return Err("has a negative bytes_sq in an age bucket".into());
            }
            previous = Some(age.bucket);
            samples = samples.saturating_add(age.samples);
        }
        if !site.live_by_age.is_empty() && samples != site.live_samples {
            return Err(format!(
                "has {samples} samples by age but {} live samples",
                site.live_samples
            ));
        }
        Ok(())
    }
}

fn check_version(found: u64) -> Result<(), Error> {
    if found == 0 || found > VERSION as u64 {
        return Err(Error::new(ErrorKind::UnsupportedVersion {
            found,
            supported: VERSION,
        }));
    }
    Ok(())
}

/// Turns a parse failure into the most useful error: a file that is not
/// JSON, not a snapshot, or of a newer version says so rather than "missing
/// field".
fn explain(bytes: &[u8], err: serde_json::Error) -> Error {
    #[derive(Deserialize)]
    struct Header {
        format: Option<serde_json::Value>,
        version: Option<serde_json::Value>,
    }
    match err.classify() {
        Category::Eof => return Error::new(ErrorKind::Truncated),
        Category::Syntax => return Error::new(ErrorKind::NotJson(err.to_string())),
        Category::Io | Category::Data => {}
    }
    let Ok(header) = serde_json::from_slice::<Header>(bytes) else {
        return Error::new(ErrorKind::NotASnapshot(None));
    };
    match header.format {
        Some(serde_json::Value::String(format)) if format == FORMAT => {}
        Some(serde_json::Value::String(format)) => {
            return Error::new(ErrorKind::NotASnapshot(Some(format)));
        }
        _ => return Error::new(ErrorKind::NotASnapshot(None)),
    }
    if let Some(version) = header.version.as_ref().and_then(serde_json::Value::as_u64)
        && let Err(unsupported) = check_version(version)
    {
        return unsupported;
    }
    Error::new(ErrorKind::Malformed(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Frame, Site, Trigger};

    fn valid() -> Snapshot {
        let mut snap = Snapshot::default();
        snap.frames.push(Frame {
            ip: 0x1234,
            function: Some("app::main".into()),
            ..Frame::default()
        });
        snap.stacks.push(vec![0]);
        snap.sites.push(Site {
            stack: 0,
            live_bytes: 100,
            ..Site::default()
        });
        snap
    }

    fn error_of(json: &str) -> String {
        Snapshot::from_slice(json.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn round_trips() {
        let snap = valid();
        let json = serde_json::to_string(&snap).unwrap();
        assert!(json.contains("\"ip\":\"0x1234\""), "{json}");
        assert_eq!(Snapshot::from_slice(json.as_bytes()).unwrap(), snap);
    }

    #[test]
    fn ages_are_checked() {
        let mut snap = valid();
        snap.sites[0].live_samples = 3;
        snap.sites[0].live_by_age = vec![
            AgeBucket::new(0, 1, 40, 1600.0),
            AgeBucket::new(7, 2, 60, 1800.0),
        ];
        let json = serde_json::to_string(&snap).unwrap();
        assert!(
            json.contains("\"live_by_age\":[[0,1,40,1600.0],[7,2,60,1800.0]]"),
            "{json}"
        );
        assert_eq!(Snapshot::from_slice(json.as_bytes()).unwrap(), snap);
        let miscounted = json.replace("\"live_samples\":3", "\"live_samples\":4");
        assert!(error_of(&miscounted).contains("has 3 samples by age but 4 live samples"));
        let unordered = json.replace("[[0,1,40,1600.0],[7,", "[[9,1,40,1600.0],[7,");
        assert!(error_of(&unordered).contains("out of order"));
        let beyond = json.replace("[7,2,60,1800.0]", "[600,2,60,1800.0]");
        assert!(error_of(&beyond).contains("age bucket 600"));
    }

    /// A version 1 file's live bytes by age become sample counts and
    /// squares, apportioned as if every sample stood for the same bytes.
    #[test]
    fn version_1_files_are_read() {
        let v1 = r#"{"format":"heapsnap","version":1,"process":{"pid":7,"exe":"/srv/app","build_id":null,"started_at_ms":0},
            "seq":0,"taken_at_ms":0,"uptime_ms":5000,"trigger":"interval",
            "sampling":{"interval_bytes":1000,"stack_walk":"frame-pointers","max_frames":64,"allocator":"jemalloc"},
            "totals":{"live_bytes":4000,"live_allocs":40,"allocated_bytes":0,"allocated_allocs":0,"freed_bytes":0,"freed_allocs":0,
                      "live_samples":4,"samples_dropped":0,"allocator":null,"rss_bytes":null,"memory_limit_bytes":null},
            "age_buckets_ms":[1000,2000],"frames":[{"ip":"0x10","function":"app::f","file":null,"line":null,"inlined":false}],
            "stacks":[[0]],"sites":[{"stack":0,"tag":null,"live_bytes":4000,"live_allocs":40,"live_bytes_var":3.0e6,
            "allocated_bytes":0,"allocated_allocs":0,"freed_bytes":0,"freed_allocs":0,"live_samples":4,
            "live_bytes_by_age":[1000,0,3000]}],"modules":[]}"#;
        let snap = Snapshot::from_slice(v1.as_bytes()).unwrap();
        assert_eq!(snap.version, 1);
        assert_eq!(snap.trigger, Trigger::Interval);
        let site = &snap.sites[0];
        assert_eq!(
            site.live_by_age,
            [
                AgeBucket::new(0, 1, 1000, 1.0e6),
                AgeBucket::new(2, 3, 3000, 3.0e6)
            ]
        );
        assert_eq!(site.live_bytes_sq, 4.0e6);
        let bad = v1.replace("[1000,0,3000]", "[1000,3000]");
        assert!(error_of(&bad).contains("has 2 age buckets, but age_buckets_ms defines 3"));
    }

    #[test]
    fn reads_gzipped_json_and_rejects_broken_gzip() {
        let snapshot = valid();
        let mut gzipped = Vec::new();
        snapshot.write_gzipped_to(&mut gzipped).unwrap();
        let json = serde_json::to_vec(&snapshot).unwrap();
        assert!(
            gzipped.len() < json.len(),
            "{} >= {}",
            gzipped.len(),
            json.len()
        );
        assert_eq!(Snapshot::read_from(&gzipped[..]).unwrap(), snapshot);
        let broken = Snapshot::read_from(&gzipped[..gzipped.len() / 2]).unwrap_err();
        assert!(broken.to_string().contains("not valid gzip"), "{broken}");
        // JSON in memory is JSON: what a bounded reader uncompressed is
        // not uncompressed again (a gzip inside a gzip).
        assert!(Snapshot::from_slice(&gzipped).is_err());
    }

    #[test]
    fn explains_what_is_wrong() {
        let json = serde_json::to_string(&valid()).unwrap();
        assert!(error_of("hello").starts_with("not JSON"));
        assert!(error_of(&json[..json.len() / 2]).starts_with("truncated"));
        assert!(error_of("[1, 2]").contains("not a heapsnap snapshot"));
        assert!(error_of(r#"{"format": "pprof"}"#).contains("\"pprof\""));
        let newer = json.replace(&format!("\"version\":{VERSION}"), "\"version\":4");
        assert_eq!(
            error_of(&newer),
            "snapshot version 4 is newer than this reader (3); upgrade heapsnap"
        );
        let newer_and_different = r#"{"format": "heapsnap", "version": 9, "nodes": []}"#;
        assert!(error_of(newer_and_different).contains("version 9 is newer"));
        let missing = json.replace("\"sites\"", "\"places\"");
        assert!(
            error_of(&missing).contains("missing field `sites`"),
            "{}",
            error_of(&missing)
        );
        let dangling = json.replace("\"stacks\":[[0]]", "\"stacks\":[[5]]");
        assert_eq!(
            error_of(&dangling),
            "invalid snapshot: stack 0 refers to frame 5, but there are 1 frames"
        );
        let negative = json.replace("\"live_bytes\":100", "\"live_bytes\":-100");
        assert!(error_of(&negative).starts_with("malformed snapshot"));
        let absurd = json.replace("\"live_bytes\":100", "\"live_bytes\":18446744073709551615");
        assert!(error_of(&absurd).contains("more than any real heap"));
        let bad_ip = json.replace("0x1234", "1234");
        assert!(error_of(&bad_ip).contains("does not start with 0x"));
    }
}
