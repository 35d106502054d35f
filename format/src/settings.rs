//! The environment variables heapsnap reads, in one list: the profiler
//! reads them (`heapsnap`'s `config.rs`), the command's manual page lists
//! them, and `docs/GUIDE.md`'s tables are checked against it.

/// One environment variable.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// Its name.
    pub name: &'static str,
    /// Who reads it.
    pub read_by: ReadBy,
    /// What it does, in Markdown (values in backticks).
    pub meaning: &'static str,
    /// Its value when unset, in Markdown.
    pub default: &'static str,
}

/// Who reads a setting, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBy {
    /// The profiler at start-up: automatic dumps.
    Dumps,
    /// The profiler at start-up: sampling, stacks, snapshots.
    Profiler,
    /// The `heapsnap` command.
    Command,
}

/// Every setting, in the order the guide gives them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "HEAPSNAP_DIR",
        read_by: ReadBy::Dumps,
        meaning: "directory to dump into (created, mode 0700); turns dumps on",
        default: "off",
    },
    Setting {
        name: "HEAPSNAP_DUMP_INTERVAL",
        read_by: ReadBy::Dumps,
        meaning: "dump this often (`60s`, `5min`), or `off`",
        default: "`60s`",
    },
    Setting {
        name: "HEAPSNAP_DUMP_ON_GROWTH",
        read_by: ReadBy::Dumps,
        meaning: "dump when the live heap passes the last dumped high by this much, or `off`",
        default: "`20%`",
    },
    Setting {
        name: "HEAPSNAP_DUMP_NEAR_LIMIT",
        read_by: ReadBy::Dumps,
        meaning: "dump when the memory measured against the limit (RSS, or the cgroup's charge, page cache included, for a cgroup v2 `memory.max` or v1 `memory.limit_in_bytes`) reaches this share of it, or earlier when the dumps measured so far say one would not fit (their own memory, and the program's recent growth over the time one takes); a dump that cannot fit is written reduced (no heap graph, no ages, bare frames) rather than not at all; or `off`",
        default: "`90%`",
    },
    Setting {
        name: "HEAPSNAP_DUMP_ON_SIGNAL",
        read_by: ReadBy::Dumps,
        meaning: "dump on `SIGUSR1` (if the program has no handler of its own)",
        default: "`on`",
    },
    Setting {
        name: "HEAPSNAP_DUMP_ON_OOM",
        read_by: ReadBy::Dumps,
        meaning: "dump when the allocator returns null (best effort)",
        default: "`on`",
    },
    Setting {
        name: "HEAPSNAP_DUMP_ON_EXIT",
        read_by: ReadBy::Dumps,
        meaning: "a last dump when the process exits, and on `SIGTERM`/`SIGINT` (how containers are stopped) when the program leaves them to end it",
        default: "`on`",
    },
    Setting {
        name: "HEAPSNAP_KEEP",
        read_by: ReadBy::Dumps,
        meaning: "keep the newest this many, plus the first (the baseline)",
        default: "`100`",
    },
    Setting {
        name: "HEAPSNAP_MEMORY_LIMIT",
        read_by: ReadBy::Dumps,
        meaning: "the memory limit (`2GiB`) instead of the cgroup's",
        default: "cgroup",
    },
    Setting {
        name: "HEAPSNAP_MEMORY_LIMIT_FILE",
        read_by: ReadBy::Dumps,
        meaning: "read the limit from this file instead",
        default: "cgroup",
    },
    Setting {
        name: "HEAPSNAP_SAMPLE_INTERVAL",
        read_by: ReadBy::Profiler,
        meaning: "mean bytes between samples, 1 B to 1 TiB (`512KiB`, `64k`, `1` = every allocation, `0` = off)",
        default: "`512KiB`",
    },
    Setting {
        name: "HEAPSNAP_SEED",
        read_by: ReadBy::Profiler,
        meaning: "seed for the samplers, for reproducible runs",
        default: "random",
    },
    Setting {
        name: "HEAPSNAP_MAX_FRAMES",
        read_by: ReadBy::Profiler,
        meaning: "deepest stack recorded (4 to 128)",
        default: "64",
    },
    Setting {
        name: "HEAPSNAP_MAX_SITES",
        read_by: ReadBy::Profiler,
        meaning: "most sites (stack and tag) recorded, about 360 bytes each; past them, samples of new stacks go to one site per tag without a stack, counted in the snapshot (`totals.samples_merged`) and shown by `top` and `leaks`",
        default: "32768",
    },
    Setting {
        name: "HEAPSNAP_STACK_WALK",
        read_by: ReadBy::Profiler,
        meaning: "`auto`, or `backtrace` to always unwind with DWARF",
        default: "`auto`",
    },
    Setting {
        name: "HEAPSNAP_COMPRESS",
        read_by: ReadBy::Profiler,
        meaning: "`gzip` writes numbered snapshot files (automatic dumps, `dump_to_dir`) as `.json.gz`; `off` as plain `.json`",
        default: "`gzip`",
    },
    Setting {
        name: "HEAPSNAP_SYMBOLIZE",
        read_by: ReadBy::Profiler,
        meaning: "`auto`: the program's own snapshots name frames in the process, automatic dumps keep bare addresses for the reporter to name (see \"Stripped binaries\"); `on`: automatic dumps too, except near-limit and out-of-memory ones; `off`: none",
        default: "`auto`",
    },
    Setting {
        name: "HEAPSNAP_SCAN",
        read_by: ReadBy::Profiler,
        meaning: "the most bytes a snapshot reads of the sampled blocks (and of unsampled memory between them) to find which point at which: the heap graph that names a leak's holder (`64MiB`), or `off`",
        default: "`64MiB`",
    },
    Setting {
        name: "HEAPSNAP_MAX_SNAPSHOT_SIZE",
        read_by: ReadBy::Command,
        meaning: "the largest snapshot read (decompressed), for files that large on purpose",
        default: "`1GiB`",
    },
    Setting {
        name: "NO_COLOR",
        read_by: ReadBy::Command,
        meaning: "set to anything: no colour in text reports, unless `--color always`",
        default: "unset",
    },
];

/// The settings `read_by` reads, as a Markdown table.
pub fn markdown_table(read_by: ReadBy) -> String {
    let mut table = String::from("| variable | meaning | default |\n|---|---|---|\n");
    for s in SETTINGS.iter().filter(|s| s.read_by == read_by) {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            s.name, s.meaning, s.default
        ));
    }
    table
}

/// Markdown as plain text: the backticks of inline code left out.
pub fn plain(markdown: &str) -> String {
    markdown.replace('`', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_tables_have_a_row_each() {
        let mut names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len());
        let rows: usize = [ReadBy::Dumps, ReadBy::Profiler, ReadBy::Command]
            .iter()
            .map(|&r| markdown_table(r).lines().count() - 2)
            .sum();
        assert_eq!(rows, SETTINGS.len());
    }
}
