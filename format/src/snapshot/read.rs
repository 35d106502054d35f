//! Reading snapshots: parse, then check that every index points somewhere
//! and every number is possible, so readers can index without checking.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::error::Category;

use super::{Error, ErrorKind, FORMAT, Snapshot, VERSION};

/// No heap, count or rate in a real snapshot comes near 2^60 (one EiB).
const IMPLAUSIBLE: u64 = 1 << 60;

impl Snapshot {
    /// Reads and validates a snapshot file. Errors name the file.
    pub fn read_from_path(path: impl AsRef<Path>) -> Result<Snapshot, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|err| Error::from(err).at(path))?;
        Snapshot::from_slice(&bytes).map_err(|err| err.at(path))
    }

    /// Reads and validates a snapshot from a reader.
    pub fn read_from(mut reader: impl Read) -> Result<Snapshot, Error> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        Snapshot::from_slice(&bytes)
    }

    /// Parses and validates a snapshot held in memory.
    pub fn from_slice(bytes: &[u8]) -> Result<Snapshot, Error> {
        match serde_json::from_slice::<Snapshot>(bytes) {
            Ok(snapshot) => {
                snapshot.validate()?;
                Ok(snapshot)
            }
            Err(err) => Err(explain(bytes, err)),
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
        for (i, site) in self.sites.iter().enumerate() {
            if site.stack as usize >= self.stacks.len() {
                return invalid(format!(
                    "site {i} refers to stack {}, but there are {} stacks",
                    site.stack,
                    self.stacks.len()
                ));
            }
            let ages = site.live_bytes_by_age.len();
            if ages != 0 && ages != self.age_buckets_ms.len() + 1 {
                return invalid(format!(
                    "site {i} has {ages} age buckets, but age_buckets_ms defines {}",
                    self.age_buckets_ms.len() + 1
                ));
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
            if !(site.live_bytes_var.is_finite() && site.live_bytes_var >= 0.0) {
                return invalid(format!("site {i} has a negative live_bytes_var"));
            }
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
    use crate::snapshot::{Frame, Site};

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
    fn explains_what_is_wrong() {
        let json = serde_json::to_string(&valid()).unwrap();
        assert!(error_of("hello").starts_with("not JSON"));
        assert!(error_of(&json[..json.len() / 2]).starts_with("truncated"));
        assert!(error_of("[1, 2]").contains("not a heapsnap snapshot"));
        assert!(error_of(r#"{"format": "pprof"}"#).contains("\"pprof\""));
        let newer = json.replace("\"version\":1", "\"version\":3");
        assert_eq!(
            error_of(&newer),
            "snapshot version 3 is newer than this reader (1); upgrade heapsnap"
        );
        let newer_and_different = r#"{"format": "heapsnap", "version": 2, "nodes": []}"#;
        assert!(error_of(newer_and_different).contains("version 2 is newer"));
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
