//! A snapshot as a pprof profile (`profile.proto`, gzipped), the format
//! `go tool pprof`, Parca, Pyroscope and Grafana read.
//!
//! Four sample types, as Go's heap profiles have them: `alloc_objects`
//! and `alloc_space` (since the start), `inuse_objects` and `inuse_space`
//! (live; the default). Values are the snapshot's unbiased estimates; the
//! period is the sampling interval (`space`/`bytes`). Each site is one
//! sample, labelled with its type (`type`), its tag (`tag`) and the mean
//! size of its live blocks (`bytes`), so that `-tagfocus` and label views
//! work. Frames a function inlined share its location, as pprof lines.
//! Mappings carry the modules' build ids.

use std::collections::HashMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;

use crate::names::{as_path, is_outside_program};
use crate::snapshot::{Frame, Snapshot};
use crate::types::Inference;

/// `Profile` of `profile.proto`.
#[derive(Clone, PartialEq, Message)]
pub struct Profile {
    /// What each value of a sample is.
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The samples: one per site.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// The loaded modules.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// Code addresses with their (inlined) lines.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// Functions.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// Every string, referred to by index; the first is "".
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// When the snapshot was taken, nanoseconds since the epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// What one sampling period is.
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// The sampling interval.
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// Free-form comments (string indices).
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    /// The sample type shown by default (a string index).
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

/// `ValueType`: a type and a unit, as string indices.
#[derive(Clone, PartialEq, Message)]
pub struct ValueType {
    /// `inuse_space`, ...
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// `bytes`, `count`.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// `Sample`: a stack (leaf first) and its values.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// Location ids, leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per sample type.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Labels.
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// `Label`: a key with a string or a number.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    /// Key (string index).
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// String value (string index), or 0.
    #[prost(int64, tag = "2")]
    pub str: i64,
    /// Numeric value.
    #[prost(int64, tag = "3")]
    pub num: i64,
    /// Unit of the numeric value (string index).
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

/// `Mapping`: a loaded module.
#[derive(Clone, PartialEq, Message)]
pub struct Mapping {
    /// Id (from 1).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Start of its executable addresses.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// End (exclusive).
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// File offset of `memory_start`.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// Path (string index).
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// Build id (string index).
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// Symbolised: functions known.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// File names known.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// Line numbers known.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Inlined frames expanded.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// `Location`: an address and its lines, the innermost inlined first.
#[derive(Clone, PartialEq, Message)]
pub struct Location {
    /// Id (from 1).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The mapping it lies in, or 0.
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// The return address.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Its lines: the last is the function the others were inlined into.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
}

/// `Line`: a function and a line in it.
#[derive(Clone, PartialEq, Message)]
pub struct Line {
    /// Function id.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Line number, or 0.
    #[prost(int64, tag = "2")]
    pub line: i64,
}

/// `Function`: a name and a file.
#[derive(Clone, PartialEq, Message)]
pub struct Function {
    /// Id (from 1).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Name (string index).
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// Name as in the symbol table (string index).
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// Source file (string index).
    #[prost(int64, tag = "4")]
    pub filename: i64,
}

/// The snapshot as pprof's `profile.proto`, gzipped: what `go tool pprof`
/// and the fleet profilers read.
pub fn gzipped(snapshot: &Snapshot) -> Vec<u8> {
    let bytes = profile(snapshot).encode_to_vec();
    let mut gzip = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        Compression::default(),
    );
    // Writing into a vector cannot fail.
    let _ = gzip.write_all(&bytes);
    gzip.finish().unwrap_or_default()
}

/// The snapshot as a pprof profile.
pub fn profile(snapshot: &Snapshot) -> Profile {
    let mut out = Builder::default();
    out.string("");
    let sample_types = [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ];
    let sample_type = sample_types
        .iter()
        .map(|(t, u)| ValueType {
            r#type: out.string(t),
            unit: out.string(u),
        })
        .collect();
    let mapping = mappings(snapshot, &mut out);
    let inference = Inference::new(&snapshot.frames);
    let (type_key, tag_key, bytes_key, bytes_unit) = (
        out.string("type"),
        out.string("tag"),
        out.string("bytes"),
        out.string("bytes"),
    );
    let mut sample = Vec::new();
    for site in &snapshot.sites {
        if site.live_bytes == 0 && site.allocated_bytes == 0 {
            continue;
        }
        let stack = snapshot
            .stacks
            .get(site.stack as usize)
            .map_or(&[][..], Vec::as_slice);
        let frames: Vec<&Frame> = stack
            .iter()
            .filter_map(|&f| snapshot.frames.get(f as usize))
            .collect();
        let library = frames.iter().take_while(|f| is_outside_program(f)).count();
        let ty = site
            .tag
            .clone()
            .unwrap_or_else(|| inference.infer(&stack[..library]).short);
        let mut label = vec![Label {
            key: type_key,
            str: out.string(&ty),
            ..Label::default()
        }];
        if let Some(tag) = &site.tag {
            label.push(Label {
                key: tag_key,
                str: out.string(tag),
                ..Label::default()
            });
        }
        if let Some(mean) = site.live_bytes.checked_div(site.live_allocs) {
            label.push(Label {
                key: bytes_key,
                num: clamp(mean),
                num_unit: bytes_unit,
                ..Label::default()
            });
        }
        // The stack starts at the program's allocating frame: the
        // allocation machinery (`RawVec::grow_one`) would take every flat
        // byte from the program's functions. The type is a label.
        let shown = if library < stack.len() {
            &stack[library..]
        } else {
            stack
        };
        let location_id = out.locations(shown, &snapshot.frames, &mapping);
        sample.push(Sample {
            location_id,
            value: vec![
                clamp(site.allocated_allocs),
                clamp(site.allocated_bytes),
                clamp(site.live_allocs),
                clamp(site.live_bytes),
            ],
            label,
        });
    }
    let comment = vec![out.string(&format!(
        "heapsnap snapshot {} of process {}, trigger {}, sampling interval {} bytes",
        snapshot.seq,
        snapshot.process.pid,
        snapshot.trigger.as_str(),
        snapshot.sampling.interval_bytes
    ))];
    let period_type = Some(ValueType {
        r#type: out.string("space"),
        unit: out.string("bytes"),
    });
    let default_sample_type = out.string("inuse_space");
    Profile {
        sample_type,
        sample,
        mapping,
        location: out.location,
        function: out.function,
        string_table: out.strings,
        time_nanos: clamp(snapshot.taken_at_ms.saturating_mul(1_000_000)),
        period_type,
        period: clamp(snapshot.sampling.interval_bytes),
        comment,
        default_sample_type,
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn mappings(snapshot: &Snapshot, out: &mut Builder) -> Vec<Mapping> {
    snapshot
        .modules
        .iter()
        .enumerate()
        .map(|(i, module)| Mapping {
            id: i as u64 + 1,
            memory_start: module.start,
            memory_limit: module.end,
            file_offset: module.start.wrapping_sub(module.bias),
            filename: out.string(&module.path),
            build_id: module.build_id.as_deref().map_or(0, |id| out.string(id)),
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        })
        .collect()
}

/// Interns strings, functions and locations.
#[derive(Default)]
struct Builder {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    function: Vec<Function>,
    function_ids: HashMap<(i64, i64), u64>,
    location: Vec<Location>,
    /// By the snapshot's frame indices of the location (inlined frames
    /// and the frame they were inlined into).
    location_ids: HashMap<Vec<u32>, u64>,
}

impl Builder {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as i64;
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), id);
        id
    }

    fn function(&mut self, frame: &Frame) -> u64 {
        let full = frame.function.as_deref().unwrap_or("?");
        let system_name = self.string(full);
        let name = self.string(&as_path(full));
        let file = self.string(frame.file.as_deref().unwrap_or(""));
        if let Some(&id) = self.function_ids.get(&(name, file)) {
            return id;
        }
        let id = self.function.len() as u64 + 1;
        self.function.push(Function {
            id,
            name,
            system_name,
            filename: file,
        });
        self.function_ids.insert((name, file), id);
        id
    }

    /// The location ids of a stack (frame indices, innermost first): the
    /// frames a function inlined join the frame they were inlined into.
    fn locations(&mut self, stack: &[u32], frames: &[Frame], mappings: &[Mapping]) -> Vec<u64> {
        let mut ids = Vec::new();
        let mut group: Vec<u32> = Vec::new();
        for &index in stack {
            let Some(frame) = frames.get(index as usize) else {
                continue;
            };
            group.push(index);
            if !frame.inlined {
                ids.push(self.location(&group, frames, mappings));
                group.clear();
            }
        }
        if !group.is_empty() {
            ids.push(self.location(&group, frames, mappings));
        }
        ids
    }

    fn location(&mut self, group: &[u32], frames: &[Frame], mappings: &[Mapping]) -> u64 {
        if let Some(&id) = self.location_ids.get(group) {
            return id;
        }
        let members: Vec<&Frame> = group.iter().map(|&i| &frames[i as usize]).collect();
        let address = members.last().map_or(0, |f| f.ip);
        let line = members
            .iter()
            .map(|frame| Line {
                function_id: self.function(frame),
                line: i64::from(frame.line.unwrap_or(0)),
            })
            .collect();
        let mapping_id = mappings
            .iter()
            .find(|m| (m.memory_start..m.memory_limit).contains(&address))
            .map_or(0, |m| m.id);
        let id = self.location.len() as u64 + 1;
        self.location.push(Location {
            id,
            mapping_id,
            address,
            line,
        });
        self.location_ids.insert(group.to_vec(), id);
        id
    }
}
