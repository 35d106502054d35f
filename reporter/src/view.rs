//! What the reporter derives from a snapshot's site: its frames, its
//! location (the innermost frame of the program itself), the type its
//! memory holds, and a key that finds the same site in other snapshots.
//!
//! Snapshots share frames between stacks (a few thousand distinct frames
//! behind a hundred thousand sites), so everything about a frame is worked
//! out once per snapshot, and sites refer to frames by index.

use std::collections::HashMap;
use std::rc::Rc;

use heapsnap_format::Snapshot;
use heapsnap_format::snapshot::{Frame, Site};
use serde::Serialize;

pub(crate) use heapsnap_format::names::function_name;
use heapsnap_format::names::short_file_path;

/// For each of `snapshot`'s frames, whether it is outside the program's
/// own code (the standard library's, a dependency's): by source path, and
/// without one (no debug information), by crate (see
/// `names::program_crates`).
pub fn outside_program(snapshot: &Snapshot) -> Vec<bool> {
    let program = heapsnap_format::names::program_crates(&snapshot.frames);
    snapshot
        .frames
        .iter()
        .map(|f| heapsnap_format::names::is_outside(f, &program))
        .collect()
}
use heapsnap_format::types::{Inference, TypeName};

/// A site with what the reporter derives from it.
#[derive(Debug)]
pub struct SiteView<'a> {
    /// The site itself.
    pub site: &'a Site,
    /// Its stack: indices into the snapshot's frames, innermost first.
    pub stack: &'a [u32],
    all_frames: &'a [Frame],
    /// How many of the stack's frames (from the innermost) belong to the
    /// standard library or a dependency; the next one, if any, is the
    /// location.
    pub library_depth: usize,
    /// The type its memory holds: its tag if it has one, else inferred.
    pub ty: Rc<TypeName>,
    /// `ty`'s names, shared by the sites of one stack.
    pub ty_short: Rc<str>,
    /// The same with full paths.
    pub ty_full: Rc<str>,
    /// The function name of each of the snapshot's frames, made once per
    /// snapshot and shared by its sites: a long name is never copied per
    /// site.
    names: Rc<[Rc<str>]>,
    /// Whether each of the snapshot's frames is outside the program.
    outside: Rc<[bool]>,
}

impl<'a> SiteView<'a> {
    /// The innermost frame of the program's own code.
    pub fn location(&self) -> Option<&'a Frame> {
        self.stack
            .get(self.library_depth)
            .and_then(|&i| self.all_frames.get(i as usize))
    }

    /// Where the site is, for people.
    pub fn location_info(&self) -> Location {
        let frames = || {
            self.stack
                .iter()
                .filter_map(|&i| self.all_frames.get(i as usize))
        };
        let unknown = if self.stack.is_empty() {
            Unknown::NoStack
        } else if frames().any(|f| f.function.is_none()) {
            // Frames without names cannot be told the program's: those
            // named are the C library's, which keeps its symbols.
            Unknown::NoSymbols
        } else {
            Unknown::LibraryOnly
        };
        let name = self.stack.get(self.library_depth).map(|&i| self.name(i));
        Location::of(self.location(), name, unknown)
    }

    /// Its frames' indices, outermost first, from the program's outermost
    /// frame: the runtime's frames at the root (thread start, `main`'s
    /// wrappers, an async runtime's workers) say nothing, and every stack
    /// shares them. `outside[i]` is whether frame `i` is outside the
    /// program; a stack without a frame of the program keeps them all.
    pub fn program_frames(&self, outside: &[bool]) -> impl Iterator<Item = u32> + 'a {
        let is_outside = |i: &u32| outside.get(*i as usize).copied().unwrap_or(true);
        let outermost_first = self.stack.iter().rev();
        let skip = outermost_first
            .clone()
            .position(|i| !is_outside(i))
            .unwrap_or(0);
        outermost_first.skip(skip).copied()
    }

    /// [`program_frames`](Self::program_frames) down to the allocating
    /// frame: the allocation machinery inside it (`RawVec::grow_one`,
    /// hashbrown's `reserve_rehash`) left out unless `machinery` (a stack
    /// without a frame of the program keeps it all). What a flamegraph
    /// draws, in every view.
    pub fn drawn_frames(&self, outside: &[bool], machinery: bool) -> Vec<u32> {
        let program: Vec<u32> = self.program_frames(outside).collect();
        let keep = if machinery || self.library_depth >= self.stack.len() {
            program.len()
        } else {
            program.len().saturating_sub(self.library_depth)
        };
        program[..keep].to_vec()
    }

    /// The function names of the stack, innermost first (shared, not
    /// copied).
    pub fn stack_names(&self) -> Vec<Rc<str>> {
        self.stack.iter().map(|&i| self.name(i)).collect()
    }

    /// The function name of the snapshot's frame `index` (shared).
    pub fn name(&self, index: u32) -> Rc<str> {
        self.names
            .get(index as usize)
            .cloned()
            .unwrap_or_else(|| Rc::from("?"))
    }

    /// The function names of the frames outside the location (where the
    /// allocation was made from), with their lines, innermost first; and
    /// whether each is outside the program.
    pub fn callers(&self) -> impl Iterator<Item = (Rc<str>, Option<u32>, bool)> + '_ {
        self.stack
            .iter()
            .skip(self.library_depth + 1)
            .filter_map(|&i| {
                let frame = self.all_frames.get(i as usize)?;
                let outside = self.outside.get(i as usize).copied().unwrap_or(true);
                Some((self.name(i), frame.line, outside))
            })
    }

    /// Identifies the site across snapshots, even of different builds: its
    /// tag and the function names of its stack (addresses and lines change
    /// from build to build), as ids of `names`.
    pub fn key(&self, names: &FunctionIds) -> SiteKey {
        SiteKey {
            tag: self.site.tag.clone(),
            functions: self.stack.iter().map(|&i| names.of_frame(i)).collect(),
        }
    }
}

/// For each of `snapshot`'s frames, the id of what a person sees of it:
/// its function, file and line (frames that differ only in their return
/// address, two calls on one line, share an id). Names are compared in
/// place, not copied.
pub fn place_ids(snapshot: &Snapshot) -> Vec<u32> {
    /// Function, file, line, inlined.
    type Place<'a> = (Option<&'a str>, Option<&'a str>, Option<u32>, bool);
    let mut ids: HashMap<Place<'_>, u32> = HashMap::new();
    snapshot
        .frames
        .iter()
        .map(|f| {
            let next = ids.len() as u32;
            *ids.entry((f.function.as_deref(), f.file.as_deref(), f.line, f.inlined))
                .or_insert(next)
        })
        .collect()
}

/// The longest name a view shows (a flamegraph's frame, the HTML report's
/// site), in bytes: a few hundred characters of a name are all anyone
/// reads, and a name of a megabyte repeated per site would make an output
/// of gigabytes.
pub const MAX_SHOWN: usize = 1024;

/// `name`, cut at [`MAX_SHOWN`] bytes (at a character boundary) with an
/// ellipsis when longer.
pub fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    if name.len() <= MAX_SHOWN {
        return std::borrow::Cow::Borrowed(name);
    }
    let end = (0..=MAX_SHOWN)
        .rev()
        .find(|&i| name.is_char_boundary(i))
        .unwrap_or(0);
    std::borrow::Cow::Owned(format!("{}…", &name[..end]))
}

/// Numbers function names, so that stacks of different snapshots compare
/// as lists of numbers.
#[derive(Debug, Default)]
pub struct FunctionIds {
    ids: HashMap<String, u32>,
    /// For each snapshot added, the id of each of its frames.
    frames: Vec<u32>,
}

impl FunctionIds {
    /// Numbers the frames of `snapshot`; `of_frame` then answers for them.
    pub fn for_snapshot(&mut self, snapshot: &Snapshot) -> &Self {
        self.frames.clear();
        for frame in &snapshot.frames {
            let name = function_name(frame);
            let next = self.ids.len() as u32;
            let id = *self.ids.entry(name).or_insert(next);
            self.frames.push(id);
        }
        self
    }

    /// The id of the function of frame `index` of the last snapshot added.
    pub fn of_frame(&self, index: u32) -> u32 {
        self.frames.get(index as usize).copied().unwrap_or(u32::MAX)
    }

    /// Every function name numbered so far, indexed by id.
    pub fn names(&self) -> Vec<String> {
        let mut names = vec![String::new(); self.ids.len()];
        for (name, &id) in &self.ids {
            names[id as usize] = name.clone();
        }
        names
    }
}

/// Finds a site in other snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteKey {
    /// The site's tag.
    pub tag: Option<String>,
    /// The function ids of its stack, innermost first (see [`FunctionIds`]).
    pub functions: Vec<u32>,
}

/// A site's location, for people.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    /// Function, or `?` when no frame of the program was found (shared
    /// with every other site of its snapshot that names it).
    pub function: Rc<str>,
    /// Source file, shortened (`src/ips.rs`).
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Why the function is `?`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<Unknown>,
}

/// Why a site has no location in the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unknown {
    /// No stack was recorded: the site table was full
    /// (`HEAPSNAP_MAX_SITES`), or the walk found no frame.
    NoStack,
    /// Its frames are bare addresses: the binary was stripped, or
    /// symbolisation was left to the reporter and not given the debug
    /// information.
    NoSymbols,
    /// Every frame is the standard library's or a dependency's (memory
    /// the runtime allocates for itself).
    LibraryOnly,
}

impl Unknown {
    /// The words shown after `?`.
    pub fn describe(self) -> &'static str {
        match self {
            Unknown::NoStack => "no stack recorded",
            Unknown::NoSymbols => "no symbols",
            Unknown::LibraryOnly => "library code only",
        }
    }
}

impl Location {
    fn of(frame: Option<&Frame>, name: Option<Rc<str>>, unknown: Unknown) -> Location {
        match frame {
            Some(frame) => Location {
                function: name.unwrap_or_else(|| Rc::from(function_name(frame))),
                file: frame.file.as_deref().map(|f| short_file_path(f).to_owned()),
                line: frame.line,
                unknown: None,
            },
            None => Location {
                function: "?".into(),
                file: None,
                line: None,
                unknown: Some(unknown),
            },
        }
    }

    /// `app::Ips::bind (src/ips.rs:57)`, or `? (no symbols)`.
    pub fn label(&self) -> String {
        match (&self.file, self.line, self.unknown) {
            (Some(file), Some(line), _) => format!("{} ({file}:{line})", self.function),
            (Some(file), None, _) => format!("{} ({file})", self.function),
            (None, _, Some(why)) => format!("{} ({})", self.function, why.describe()),
            _ => self.function.to_string(),
        }
    }
}

/// The views of every site of a snapshot, in the snapshot's order (most
/// live bytes first).
pub fn sites(snapshot: &Snapshot) -> Vec<SiteView<'_>> {
    // A site's location is its first frame of the program's own code: not
    // the standard library's, not a dependency's.
    let library: Rc<[bool]> = outside_program(snapshot).into();
    let by_name: Vec<bool> = snapshot
        .frames
        .iter()
        .map(heapsnap_format::names::is_outside_program)
        .collect();
    let inference = Inference::new(&snapshot.frames);
    let names: Rc<[Rc<str>]> = snapshot
        .frames
        .iter()
        .map(|frame| Rc::from(function_name(frame)))
        .collect();
    type Inferred = (usize, Rc<TypeName>, Rc<str>, Rc<str>);
    let mut by_stack: HashMap<u32, Inferred> = HashMap::new();
    let no_stack: &[u32] = &[];
    snapshot
        .sites
        .iter()
        .map(|site| {
            let stack = snapshot
                .stacks
                .get(site.stack as usize)
                .map_or(no_stack, Vec::as_slice);
            let (library_depth, inferred, short, full) = by_stack
                .entry(site.stack)
                .or_insert_with(|| {
                    let outside = |flags: &[bool]| {
                        stack
                            .iter()
                            .take_while(|&&i| flags.get(i as usize).copied().unwrap_or(true))
                            .count()
                    };
                    // A stack with no frame of the program's crates (its
                    // functions inlined into a dependency's, in a build
                    // without debug information) is placed at its first
                    // frame outside the standard library.
                    let mut depth = outside(&library);
                    if depth == stack.len() {
                        depth = outside(&by_name);
                    }
                    let ty = inference.infer(&stack[..depth]);
                    let (short, full) = (Rc::from(ty.short.as_str()), Rc::from(ty.full.as_str()));
                    (depth, Rc::new(ty), short, full)
                })
                .clone();
            let (ty, ty_short, ty_full) = match &site.tag {
                Some(tag) => {
                    let ty = TypeName::tagged(tag);
                    let (short, full) = (Rc::from(ty.short.as_str()), Rc::from(ty.full.as_str()));
                    (Rc::new(ty), short, full)
                }
                None => (inferred, short, full),
            };
            SiteView {
                site,
                stack,
                all_frames: &snapshot.frames,
                library_depth,
                ty,
                ty_short,
                ty_full,
                names: Rc::clone(&names),
                outside: Rc::clone(&library),
            }
        })
        .collect()
}
