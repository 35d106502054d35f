//! Whether a snapshot's build let the profiler name what it saw. A build
//! without frame pointers, v0 symbols or debug information still profiles,
//! but its reports lose types (`Vec<?>`), source lines and inlined frames;
//! every reader of such a snapshot is told what is missing, what it costs,
//! and the fix.

use crate::Snapshot;
use crate::snapshot::StackWalk;

/// Something a snapshot's build lacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shortfall {
    /// No frame pointers: stacks come from DWARF unwinding.
    FramePointers,
    /// Legacy symbol mangling: functions are named without their generic
    /// arguments.
    V0Symbols,
    /// No debug line tables: no file and line, no inlined frames.
    LineTables,
    /// No symbols at all (a stripped binary): frames are addresses.
    Symbols,
}

impl Shortfall {
    /// What is missing, and what that costs the reports.
    pub fn describe(self) -> &'static str {
        match self {
            Shortfall::FramePointers => {
                "frame pointers (stacks come from DWARF unwinding: microseconds per sample, and cut short where it fails)"
            }
            Shortfall::V0Symbols => {
                "v0 symbol names (generic arguments are lost: collections read as `Vec<?>`, `HashMap<?, ?>`)"
            }
            Shortfall::LineTables => {
                "debug line tables (no file:line, and inlined functions vanish from stacks)"
            }
            Shortfall::Symbols => {
                "symbols (frames are bare addresses: the binary was stripped, or the profiler left naming them to heapsnap, as automatic dumps do and HEAPSNAP_SYMBOLIZE=off does, and no matching binary was found here; give --binary or --debug-dir)"
            }
        }
    }
}

impl Shortfall {
    /// What is missing, in a few words.
    pub fn name(self) -> &'static str {
        match self {
            Shortfall::FramePointers => "frame pointers",
            Shortfall::V0Symbols => "v0 symbol names",
            Shortfall::LineTables => "debug line tables",
            Shortfall::Symbols => "symbols",
        }
    }

    /// What that costs the reports, in a few words.
    pub fn cost(self) -> &'static str {
        match self {
            Shortfall::FramePointers => "slow stacks",
            Shortfall::V0Symbols => "types read `Vec<?>`",
            Shortfall::LineTables => "no file:line",
            Shortfall::Symbols => "bare addresses, and no matching binary here",
        }
    }

    /// True when it weakens what the leak analysis says (types, places),
    /// not only what a sample costs.
    pub fn weakens_verdicts(self) -> bool {
        !matches!(self, Shortfall::FramePointers)
    }
}

/// What `snapshot`'s build lacked; empty for a good build, and for
/// snapshots of older writers, which do not say.
pub fn shortfalls(snapshot: &Snapshot) -> Vec<Shortfall> {
    let Some(build) = &snapshot.sampling.build else {
        return Vec::new();
    };
    let mut missing = Vec::new();
    if build.addresses == 0 {
        return missing;
    }
    // Unwinding asked for on a build with frame pointers lacks nothing.
    if snapshot.sampling.stack_walk == StackWalk::Backtrace && build.frame_pointers != Some(true) {
        missing.push(Shortfall::FramePointers);
    }
    if build.named * 2 < build.addresses {
        missing.push(Shortfall::Symbols);
        return missing;
    }
    if !build.v0_symbols {
        missing.push(Shortfall::V0Symbols);
    }
    if build.with_lines * 2 < build.named {
        missing.push(Shortfall::LineTables);
    }
    missing
}

/// One warning about `snapshot`'s build naming what is missing, what it
/// costs and the fix, or `None` for a good build.
pub fn warning(snapshot: &Snapshot) -> Option<String> {
    let missing = shortfalls(snapshot);
    if missing.is_empty() {
        return None;
    }
    let what: Vec<&str> = missing.iter().map(|m| m.describe()).collect();
    Some(format!(
        "this snapshot's build lacks {}. Fix: {}.",
        what.join("; "),
        fixes(&missing).join("; and ")
    ))
}

/// The same warning for a terminal: a line of what is missing and what
/// it costs, and a line of the fix; `None` for a good build.
pub fn short_warning(snapshot: &Snapshot) -> Option<(String, String)> {
    let missing = shortfalls(snapshot);
    if missing.is_empty() {
        return None;
    }
    let names: Vec<&str> = missing.iter().map(|m| m.name()).collect();
    let costs: Vec<&str> = missing.iter().map(|m| m.cost()).collect();
    Some((
        format!(
            "this snapshot's build lacks {}: {}",
            names.join(", "),
            costs.join("; ")
        ),
        format!("{}.", fixes(&missing).join("; and ")),
    ))
}

/// How to mend each of `missing`.
fn fixes(missing: &[Shortfall]) -> Vec<String> {
    let mut flags = Vec::new();
    if missing.contains(&Shortfall::FramePointers) {
        flags.push(r#""-C", "force-frame-pointers=yes""#);
    }
    if missing.contains(&Shortfall::V0Symbols) {
        flags.push(r#""-C", "symbol-mangling-version=v0""#);
    }
    let mut fixes = Vec::new();
    if !flags.is_empty() {
        fixes.push(format!(
            "in .cargo/config.toml, [build] rustflags = [{}] (a RUSTFLAGS variable in the environment, as CI and Docker builds set, replaces these: put them there too)",
            flags.join(", ")
        ));
    }
    if missing.contains(&Shortfall::LineTables) {
        fixes.push(r#"in Cargo.toml, [profile.release] debug = "limited""#.to_owned());
    }
    if missing.contains(&Shortfall::Symbols) {
        fixes.push(
            "frames are left bare by a stripped build, and by automatic dumps and HEAPSNAP_SYMBOLIZE=off, which leave naming to heapsnap; name them from the unstripped binary or its debug file (`heapsnap symbolize SNAPSHOTS --binary PATH -o DIR`, or --binary/--debug-dir on any command); keep the debug information when stripping (`objcopy --only-keep-debug`)"
                .to_owned(),
        );
    }
    fixes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Build;

    fn with(walk: StackWalk, build: Build) -> Snapshot {
        let mut snapshot = Snapshot::default();
        snapshot.sampling.stack_walk = walk;
        snapshot.sampling.build = Some(build);
        snapshot
    }

    fn build(addresses: u32, named: u32, with_lines: u32, v0_symbols: bool) -> Build {
        Build {
            v0_symbols,
            frame_pointers: None,
            addresses,
            named,
            with_lines,
        }
    }

    #[test]
    fn a_good_build_and_an_old_snapshot_say_nothing() {
        let good = with(StackWalk::FramePointers, build(100, 100, 95, true));
        assert_eq!(shortfalls(&good), []);
        assert_eq!(warning(&good), None);
        assert_eq!(warning(&Snapshot::default()), None);
    }

    #[test]
    fn a_plain_release_build_lacks_all_three_with_the_fixes() {
        let plain = with(StackWalk::Backtrace, build(100, 98, 0, false));
        assert_eq!(
            shortfalls(&plain),
            [
                Shortfall::FramePointers,
                Shortfall::V0Symbols,
                Shortfall::LineTables
            ]
        );
        let text = warning(&plain).unwrap();
        assert!(text.contains("force-frame-pointers=yes"), "{text}");
        assert!(text.contains("symbol-mangling-version=v0"), "{text}");
        assert!(text.contains("RUSTFLAGS"), "{text}");
        assert!(text.contains(r#"debug = "limited""#), "{text}");
        assert!(text.contains("`Vec<?>`"), "{text}");
    }

    #[test]
    fn unwinding_asked_for_is_no_shortfall() {
        let mut asked = build(100, 100, 95, true);
        asked.frame_pointers = Some(true);
        assert_eq!(shortfalls(&with(StackWalk::Backtrace, asked)), []);
        let mut forced = build(100, 100, 95, true);
        forced.frame_pointers = Some(false);
        assert_eq!(
            shortfalls(&with(StackWalk::Backtrace, forced)),
            [Shortfall::FramePointers]
        );
    }

    #[test]
    fn a_stripped_build_is_named_as_such() {
        let stripped = with(StackWalk::FramePointers, build(100, 3, 0, true));
        assert_eq!(shortfalls(&stripped), [Shortfall::Symbols]);
        assert!(warning(&stripped).unwrap().contains("stripped"));
        // The short form says why frames can be bare besides stripping.
        let (what, fix) = short_warning(&stripped).unwrap();
        assert!(what.contains("bare addresses"), "{what}");
        assert!(fix.contains("HEAPSNAP_SYMBOLIZE=off"), "{fix}");
    }
}
