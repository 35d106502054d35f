//! Offline symbolisation: the frames of snapshots taken from a stripped
//! binary, named from its debug information.
//!
//! Every snapshot keeps each frame's return address and the map of the
//! process's modules (path, address range, load bias, GNU build id), so a
//! frame the process could not name can be named later, from the unstripped
//! binary or the debug file `objcopy --only-keep-debug` made of it. Debug
//! files are found by build id in a debug directory laid out as
//! `/usr/lib/debug` is (`.build-id/ab/cdef….debug`), or given as binaries:
//! a binary matches a module by build id, or by file name where a build id
//! is missing; a stripped binary's `.gnu_debuglink` leads to its debug file.
//!
//! Names come from DWARF (inlined functions expanded, innermost first, as
//! the profiler writes them) or, without it, from the symbol table; then
//! each stack loses the allocator's frames at its innermost end, which the
//! profiler could not recognise without names, and the build record is
//! counted again so that the reporter's warning says what is still missing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use heapsnap_format::Snapshot;
use heapsnap_format::names::is_allocator_frame;
use heapsnap_format::snapshot::{Frame, Module, Symbol};
use object::{Object, ObjectSection};

/// Where debug information may be found.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// Binaries or debug files, each matched to the module with its build
    /// id (or, lacking one, its file name).
    pub binaries: Vec<PathBuf>,
    /// Directories of debug files named by build id, laid out as
    /// `/usr/lib/debug` (`.build-id/ab/cdef….debug`), or `.build-id`
    /// directories themselves.
    pub debug_dirs: Vec<PathBuf>,
}

impl Options {
    /// True when no source of debug information is given.
    pub fn is_empty(&self) -> bool {
        self.binaries.is_empty() && self.debug_dirs.is_empty()
    }
}

/// What symbolising one snapshot did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// The addresses named from debug information: each as the debug file
    /// and the address in it (the same across snapshots of one build).
    pub named: BTreeSet<(PathBuf, u64)>,
    /// Each module given debug information, and the file it came from.
    pub matched: Vec<(String, PathBuf)>,
    /// Modules that hold frames but got no debug information, each with
    /// why (its build id, or that a given binary is another build).
    pub unmatched: Vec<String>,
}

/// A binary or debug file given with `--binary`.
#[derive(Debug)]
struct Candidate {
    path: PathBuf,
    build_id: Option<String>,
    /// Its debug file, found through its `.gnu_debuglink`, when it has one.
    linked: Option<PathBuf>,
    /// True when it has DWARF or a full symbol table (not only the dynamic
    /// symbols a stripped binary keeps, which name few functions and
    /// misname the rest).
    has_symbols: bool,
    /// True when it has a dynamic symbol table: a shared library's names
    /// every function it exports.
    has_dynamic_symbols: bool,
}

/// Names frames from debug files, keeping each file open and each address
/// looked up once across the snapshots it is given.
pub struct Symbolizer {
    options: Options,
    candidates: Vec<Candidate>,
    loaders: HashMap<PathBuf, Option<Rc<addr2line::Loader>>>,
    symbols: HashMap<(PathBuf, u64), Rc<[Symbol]>>,
    /// Each module's debug file, found once for every snapshot of a run:
    /// by path, build id and whether it is the program.
    found: HashMap<(String, Option<String>, bool), Option<PathBuf>>,
}

impl std::fmt::Debug for Symbolizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbolizer")
            .field("options", &self.options)
            .field("candidates", &self.candidates)
            .finish_non_exhaustive()
    }
}

/// Why a `--binary` could not be used.
#[derive(Debug)]
pub struct Error {
    path: PathBuf,
    reason: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for Error {}

/// Names the frames of `loaded` that the binaries on this machine can name
/// (each module's own file, where its build id matches), as every command
/// does unasked: what automatic dumps leave bare (see the profiler's
/// `HEAPSNAP_SYMBOLIZE`). For programs that read snapshots with this
/// library. How many distinct addresses were named.
pub fn name_from_this_machine(loaded: &mut [crate::Loaded]) -> usize {
    let Ok(mut symbolizer) = Symbolizer::new(Options::default()) else {
        return 0;
    };
    let mut named = BTreeSet::new();
    for one in loaded.iter_mut() {
        named.append(&mut symbolizer.symbolize(&mut one.snapshot).named);
    }
    share_names_within_processes(loaded);
    named.len()
}

/// Names the bare frames of each snapshot from the other snapshots of the
/// same process that named the same address (its own snapshots named in
/// the process, its automatic dumps left bare, or a symbolised copy beside
/// unnamed ones): an address means one function within one process, and a
/// site must read the same in every snapshot to be followed across them.
pub fn share_names_within_processes(loaded: &mut [crate::Loaded]) {
    type Process = (u32, u64);
    let process = |s: &Snapshot| (s.process.pid, s.process.started_at_ms);
    let mut known: HashMap<Process, HashMap<u64, Rc<[Symbol]>>> = HashMap::new();
    for one in loaded.iter() {
        let snapshot = &one.snapshot;
        let names = known.entry(process(snapshot)).or_default();
        for stack in &snapshot.stacks {
            for group in groups(stack, &snapshot.frames) {
                let frames: Vec<&Frame> = group
                    .frames
                    .iter()
                    .filter_map(|&id| snapshot.frames.get(id as usize))
                    .collect();
                if frames.last().is_some_and(|f| f.function.is_some()) {
                    names.entry(group.ip).or_insert_with(|| {
                        frames
                            .iter()
                            .map(|f| Symbol {
                                function: f.function.clone(),
                                file: f.file.clone(),
                                line: f.line,
                            })
                            .collect()
                    });
                }
            }
        }
    }
    for one in loaded.iter_mut() {
        let snapshot = &mut one.snapshot;
        let Some(names) = known.get(&process(snapshot)) else {
            continue;
        };
        let groups: Vec<Vec<Group>> = snapshot
            .stacks
            .iter()
            .map(|stack| groups(stack, &snapshot.frames))
            .collect();
        let found: HashMap<u64, Rc<[Symbol]>> = groups
            .iter()
            .flatten()
            .filter(|group| {
                let owner = group.frames.last().map(|&id| &snapshot.frames[id as usize]);
                owner.is_some_and(|frame| frame.function.is_none())
            })
            .filter_map(|group| Some((group.ip, Rc::clone(names.get(&group.ip)?))))
            .collect();
        if !found.is_empty() {
            rewrite(snapshot, &groups, &found);
        }
    }
}

impl Symbolizer {
    /// Opens each binary of `options` to learn its build id; fails when one
    /// cannot be read or is not an object file.
    pub fn new(options: Options) -> Result<Symbolizer, Error> {
        let candidates = options
            .binaries
            .iter()
            .map(|path| candidate(path, &options.debug_dirs))
            .collect::<Result<_, _>>()?;
        Ok(Symbolizer {
            options,
            candidates,
            loaders: HashMap::new(),
            symbols: HashMap::new(),
            found: HashMap::new(),
        })
    }

    /// Names the frames of `snapshot` that its modules' debug information
    /// can name, and trims the allocator's frames this reveals.
    pub fn symbolize(&mut self, snapshot: &mut Snapshot) -> Outcome {
        let mut outcome = Outcome::default();
        let groups: Vec<Vec<Group>> = snapshot
            .stacks
            .iter()
            .map(|stack| groups(stack, &snapshot.frames))
            .collect();
        // The debug file of each module that holds a frame.
        let mut debug: HashMap<usize, Option<(PathBuf, Rc<addr2line::Loader>)>> = HashMap::new();
        let mut found: HashMap<u64, Rc<[Symbol]>> = HashMap::new();
        // Modules with frames the process could not name: those missing
        // debug information are worth a word.
        let unnamed: HashSet<usize> = groups
            .iter()
            .flatten()
            .filter(|group| {
                let owner = group.frames.last().map(|&id| &snapshot.frames[id as usize]);
                owner.is_some_and(|frame| frame.function.is_none())
            })
            .filter_map(|group| module_of(&snapshot.modules, group.ip))
            .collect();
        for group in groups.iter().flatten() {
            let ip = group.ip;
            if ip == 0 || found.contains_key(&ip) {
                continue;
            }
            let Some(index) = module_of(&snapshot.modules, ip) else {
                continue;
            };
            // Given nothing, only frames the process left bare are looked up.
            if self.options.is_empty() && !unnamed.contains(&index) {
                continue;
            }
            let loader = debug
                .entry(index)
                .or_insert_with(|| {
                    let path = self.debug_file(snapshot, index, &mut outcome);
                    if path.is_none() && unnamed.contains(&index) && !self.options.is_empty() {
                        outcome.unmatched.push(self.why_unmatched(snapshot, index));
                    }
                    let path = path?;
                    Some((path.clone(), self.loader(&path)?))
                })
                .clone();
            let Some((path, loader)) = loader else {
                continue;
            };
            let module = &snapshot.modules[index];
            // A return address: the call is the instruction before it.
            let probe = ip.wrapping_sub(module.bias).wrapping_sub(1);
            let symbols = self.look_up(path.clone(), &loader, probe);
            if symbols.last().is_some_and(|s| s.function.is_some()) {
                outcome.named.insert((path, probe));
                found.insert(ip, symbols);
            }
        }
        if !found.is_empty() {
            rewrite(snapshot, &groups, &found);
        }
        outcome
    }

    /// The debug file for module `index` (said in `outcome`), if any;
    /// looked for once per module across snapshots.
    fn debug_file(
        &mut self,
        snapshot: &Snapshot,
        index: usize,
        outcome: &mut Outcome,
    ) -> Option<PathBuf> {
        let module = &snapshot.modules[index];
        let is_program = is_program(snapshot, module);
        let key = (module.path.clone(), module.build_id.clone(), is_program);
        let found = match self.found.get(&key) {
            Some(found) => found.clone(),
            None => {
                let found = self.find_debug_file(module, is_program);
                self.found.insert(key, found.clone());
                found
            }
        }?;
        outcome.matched.push((module.path.clone(), found.clone()));
        Some(found)
    }

    /// Where `module`'s debug information is: a binary given, a debug
    /// directory, or the module's own file here.
    fn find_debug_file(&self, module: &Module, is_program: bool) -> Option<PathBuf> {
        self.candidates
            .iter()
            .find(|candidate| {
                let by_id = module.build_id.is_some() && module.build_id == candidate.build_id;
                let unidentified = module.build_id.is_none() || candidate.build_id.is_none();
                let by_name = unidentified
                    && (file_name(&module.path) == file_name(&candidate.path.to_string_lossy())
                        || (is_program && self.candidates.len() == 1));
                by_id || by_name
            })
            .map(|candidate| candidate.linked.clone().unwrap_or(candidate.path.clone()))
            .or_else(|| by_build_id(&self.options.debug_dirs, module.build_id.as_deref()?))
            .or_else(|| self.same_build_here(module, is_program))
    }

    /// The module's own file on this machine, when it is the same build
    /// (its build id says so), or its `.gnu_debuglink` file: what `perf`
    /// and `pprof` use for a program profiled where it runs. A stripped
    /// program is no use; a shared library's exported names are.
    fn same_build_here(&self, module: &Module, is_program: bool) -> Option<PathBuf> {
        let wanted = module.build_id.as_ref()?;
        let here = candidate(Path::new(&module.path), &self.options.debug_dirs).ok()?;
        if here.build_id.as_ref() != Some(wanted) {
            return None;
        }
        let named = here.has_symbols || (here.has_dynamic_symbols && !is_program);
        here.linked.or(named.then_some(here.path))
    }

    /// Why module `index` got no debug information: its build id, and for
    /// the program, the binaries given that are other builds.
    fn why_unmatched(&self, snapshot: &Snapshot, index: usize) -> String {
        let module = &snapshot.modules[index];
        let mut why = module.path.clone();
        match &module.build_id {
            Some(id) => write!(why, " (build id {id})"),
            None => write!(why, " (no build id)"),
        }
        .expect("writing to a String");
        let other_builds: Vec<String> = self
            .candidates
            .iter()
            .filter_map(|c| {
                Some(format!(
                    "{} has build id {}",
                    c.path.display(),
                    c.build_id.as_ref()?
                ))
            })
            .collect();
        if is_program(snapshot, module) && module.build_id.is_some() && !other_builds.is_empty() {
            write!(why, "; not the build given: {}", other_builds.join(", "))
                .expect("writing to a String");
        }
        why
    }

    /// The loaded debug information of `path`, or `None` when it cannot be
    /// read.
    fn loader(&mut self, path: &Path) -> Option<Rc<addr2line::Loader>> {
        self.loaders
            .entry(path.to_path_buf())
            .or_insert_with(|| addr2line::Loader::new(path).ok().map(Rc::new))
            .clone()
    }

    /// The frames at file address `probe` of `path`, which `loader` read.
    fn look_up(&mut self, path: PathBuf, loader: &addr2line::Loader, probe: u64) -> Rc<[Symbol]> {
        self.symbols
            .entry((path, probe))
            .or_insert_with(|| symbols_at(loader, probe).into())
            .clone()
    }
}

/// The frames at `probe`: DWARF's, inlined functions first, the function
/// that owns the code last; where DWARF does not name that function, the
/// symbol table does.
fn symbols_at(loader: &addr2line::Loader, probe: u64) -> Vec<Symbol> {
    let mut symbols = Vec::new();
    if let Ok(mut frames) = loader.find_frames(probe) {
        while let Ok(Some(frame)) = frames.next() {
            let function = frame
                .function
                .as_ref()
                .and_then(|f| f.raw_name().ok())
                .map(|raw| demangle(&raw));
            let location = frame.location.as_ref();
            symbols.push(Symbol {
                function,
                file: location.and_then(|l| l.file).map(str::to_owned),
                line: location.and_then(|l| l.line),
            });
        }
    }
    let owner_unnamed = symbols.last().is_none_or(|s| s.function.is_none());
    if owner_unnamed && let Some(name) = loader.find_symbol(probe) {
        match symbols.last_mut() {
            Some(owner) => owner.function = Some(demangle(name)),
            None => symbols.push(Symbol {
                function: Some(demangle(name)),
                file: None,
                line: None,
            }),
        }
    }
    symbols
}

/// A symbol's name as the profiler writes it: demangled, without the hash
/// of legacy names or the crate disambiguators of v0 names, generic
/// arguments kept. Names that are not Rust's stay as they are.
fn demangle(raw: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(raw))
}

/// Opens `path` to learn its build id and, for a stripped binary, its
/// debug file.
fn candidate(path: &Path, debug_dirs: &[PathBuf]) -> Result<Candidate, Error> {
    let error = |reason: String| Error {
        path: path.to_path_buf(),
        reason,
    };
    // A FIFO or a device would block or never end: regular files only.
    let metadata = std::fs::metadata(path).map_err(|err| error(err.to_string()))?;
    if !metadata.is_file() {
        return Err(error("not a regular file".into()));
    }
    // Read lazily: only the headers and notes, not a large debug file whole.
    let data =
        object::ReadCache::new(std::fs::File::open(path).map_err(|err| error(err.to_string()))?);
    let file = object::File::parse(&data)
        .map_err(|err| error(format!("not an object file that can be read ({err})")))?;
    let build_id = file.build_id().ok().flatten().map(hex);
    let has_debug_info = file
        .section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0);
    let linked = match file.gnu_debuglink() {
        Ok(Some((name, _crc))) if !has_debug_info => {
            let name = String::from_utf8_lossy(name).into_owned();
            linked_file(path, &name, debug_dirs)
        }
        _ => None,
    };
    Ok(Candidate {
        path: path.to_path_buf(),
        build_id,
        linked,
        has_symbols: has_debug_info || file.symbol_table().is_some(),
        has_dynamic_symbols: file.dynamic_symbol_table().is_some(),
    })
}

/// Where gdb looks for a `.gnu_debuglink` file named `name`: beside the
/// binary, in its `.debug` directory, and in each debug directory.
fn linked_file(binary: &Path, name: &str, debug_dirs: &[PathBuf]) -> Option<PathBuf> {
    let dir = binary.parent().unwrap_or(Path::new("."));
    let beside = [dir.join(name), dir.join(".debug").join(name)];
    beside
        .into_iter()
        .chain(debug_dirs.iter().map(|d| d.join(name)))
        .find(|p| p.is_file() && p != binary)
}

/// The debug file for build id `id` in `dirs`: `.build-id/ab/cdef….debug`
/// under a debug directory, or `ab/cdef….debug` under a `.build-id` one.
fn by_build_id(dirs: &[PathBuf], id: &str) -> Option<PathBuf> {
    if id.len() < 3 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (head, rest) = id.split_at(2);
    let name = Path::new(head).join(format!("{rest}.debug"));
    dirs.iter()
        .flat_map(|dir| [dir.join(".build-id").join(&name), dir.join(&name)])
        .find(|p| p.is_file())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        write!(text, "{byte:02x}").expect("writing to a String");
        text
    })
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// True when `module` is the profiled program itself.
fn is_program(snapshot: &Snapshot, module: &Module) -> bool {
    module.path == snapshot.process.exe
        || module.path == "/proc/self/exe"
        || (module.build_id.is_some() && module.build_id == snapshot.process.build_id)
}

/// The module whose executable addresses hold `ip`.
fn module_of(modules: &[Module], ip: u64) -> Option<usize> {
    modules.iter().position(|m| m.start <= ip && ip < m.end)
}

/// The frames of one return address in a stack: those inlined into the
/// function that owns the code, then that function (marked not inlined).
#[derive(Debug)]
struct Group {
    ip: u64,
    frames: Vec<u32>,
}

/// `stack` cut into its addresses' groups of frames.
fn groups(stack: &[u32], frames: &[Frame]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut open = false;
    for &id in stack {
        let Some(frame) = frames.get(id as usize) else {
            continue;
        };
        match groups.last_mut() {
            Some(group) if open && group.ip == frame.ip => group.frames.push(id),
            _ => groups.push(Group {
                ip: frame.ip,
                frames: vec![id],
            }),
        }
        open = frame.inlined;
    }
    groups
}

/// Rewrites `snapshot`'s frames and stacks with the symbols `found` per
/// address, trims each stack of the allocator's frames at its innermost
/// end, and counts the build's record again.
fn rewrite(snapshot: &mut Snapshot, groups: &[Vec<Group>], found: &HashMap<u64, Rc<[Symbol]>>) {
    let old = std::mem::take(&mut snapshot.frames);
    let mut ids: HashMap<Frame, u32> = HashMap::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut intern = |frame: Frame| {
        *ids.entry(frame.clone()).or_insert_with(|| {
            frames.push(frame);
            frames.len() as u32 - 1
        })
    };
    // Per distinct address: named, and with lines, by its owner.
    let mut owners: HashMap<u64, (bool, bool)> = HashMap::new();
    for (stack, groups) in snapshot.stacks.iter_mut().zip(groups) {
        let mut rewritten: Vec<(Frame, bool)> = Vec::new();
        for group in groups {
            let at: Vec<Frame> = match found.get(&group.ip) {
                Some(symbols) => Frame::at(group.ip, symbols),
                None => group
                    .frames
                    .iter()
                    .map(|&id| old[id as usize].clone())
                    .collect(),
            };
            let owner_is_allocator = at.last().is_some_and(is_allocator_frame);
            rewritten.extend(at.into_iter().map(|f| (f, owner_is_allocator)));
        }
        let cut = rewritten
            .iter()
            .take_while(|(frame, owner_is_allocator)| {
                *owner_is_allocator || is_allocator_frame(frame)
            })
            .count();
        for (frame, owner_is_allocator) in &rewritten[cut..] {
            if !frame.inlined && !owner_is_allocator {
                owners.insert(
                    frame.ip,
                    (
                        frame.function.is_some(),
                        frame.file.is_some() && frame.line.is_some(),
                    ),
                );
            }
        }
        *stack = rewritten
            .into_iter()
            .skip(cut)
            .map(|(frame, _)| intern(frame))
            .collect();
    }
    snapshot.frames = frames;
    if let Some(build) = &mut snapshot.sampling.build {
        let count = |pick: fn(&(bool, bool)) -> bool| {
            u32::try_from(owners.values().filter(|o| pick(o)).count()).unwrap_or(u32::MAX)
        };
        build.addresses = count(|_| true);
        build.named = count(|o| o.0);
        build.with_lines = count(|o| o.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ip: u64, function: Option<&str>, inlined: bool) -> Frame {
        let mut frame = Frame::default();
        frame.ip = ip;
        frame.function = function.map(str::to_owned);
        frame.inlined = inlined;
        frame
    }

    #[test]
    fn stacks_split_at_each_address_owner_and_recursion_stays_two_groups() {
        let frames = [
            frame(0x10, Some("inner"), true),
            frame(0x10, Some("owner"), false),
            frame(0x20, None, false),
        ];
        // The same return address twice in a row (recursion): two groups.
        let split = groups(&[0, 1, 2, 2], &frames);
        let shape: Vec<(u64, usize)> = split.iter().map(|g| (g.ip, g.frames.len())).collect();
        assert_eq!(shape, [(0x10, 2), (0x20, 1), (0x20, 1)]);
    }

    #[test]
    fn named_addresses_replace_bare_ones_and_allocator_frames_are_trimmed() {
        let mut snapshot = Snapshot::default();
        snapshot.frames = vec![frame(0x10, None, false), frame(0x20, None, false)];
        snapshot.stacks = vec![vec![0, 1]];
        let symbol = |name: &str| Symbol {
            function: Some(name.into()),
            file: Some("src/main.rs".into()),
            line: Some(7),
        };
        let found = HashMap::from([
            (0x10, Rc::from(vec![symbol("__rustc::__rust_alloc")])),
            (
                0x20,
                Rc::from(vec![symbol("app::grow"), symbol("app::serve")]),
            ),
        ]);
        snapshot.sampling.build = Some(heapsnap_format::snapshot::Build::default());
        let split = vec![groups(&snapshot.stacks[0], &snapshot.frames)];
        rewrite(&mut snapshot, &split, &found);
        let names: Vec<_> = snapshot.stacks[0]
            .iter()
            .map(|&i| snapshot.frames[i as usize].function.clone().unwrap())
            .collect();
        assert_eq!(names, ["app::grow", "app::serve"]);
        assert!(snapshot.frames[snapshot.stacks[0][0] as usize].inlined);
        let build = snapshot.sampling.build.unwrap();
        assert_eq!((build.addresses, build.named, build.with_lines), (1, 1, 1));
    }

    #[test]
    #[cfg(unix)]
    fn a_module_path_that_is_a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `name` is a valid NUL-terminated path.
        #[allow(unsafe_code)]
        let made = unsafe { libc::mkfifo(name.as_ptr(), 0o600) };
        assert_eq!(made, 0);
        let err = candidate(&fifo, &[]).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn debug_files_are_found_by_build_id_in_either_layout() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join(".build-id/ab");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("cdef.debug"), b"").unwrap();
        let dirs = [dir.path().to_path_buf()];
        assert_eq!(
            by_build_id(&dirs, "abcdef"),
            Some(nested.join("cdef.debug"))
        );
        let direct = [dir.path().join(".build-id")];
        assert_eq!(
            by_build_id(&direct, "abcdef"),
            Some(nested.join("cdef.debug"))
        );
        assert_eq!(by_build_id(&dirs, "ab0000"), None);
        assert_eq!(by_build_id(&dirs, "../../etc"), None);
    }
}
