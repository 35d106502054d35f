//! What the operating system and the allocator say about memory: resident
//! set size, the cgroup memory limit, and jemalloc's statistics.

use std::path::{Path, PathBuf};

use crate::record::counters::Allocator;

/// The process's resident set size, from `/proc/self/statm`.
pub(crate) fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * crate::sys::page_size())
}

/// How much address space this process may still map under its limit
/// (`ulimit -v`, RLIMIT_AS), or `None` without a limit. Under such a limit
/// an allocation fails (returns null) instead of the kernel killing the
/// process, so a snapshot asks before a step that takes much memory.
pub(crate) fn address_space_headroom() -> Option<u64> {
    let limit = crate::sys::address_space_limit()?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
    Some(limit.saturating_sub(pages * crate::sys::page_size()))
}

/// Limits at or above this are "no limit" (cgroup v1 reports
/// 9223372036854771712 for unlimited).
const UNLIMITED: u64 = 1 << 60;

/// The memory limit of this process's cgroup (v2 `memory.max`, v1
/// `memory.limit_in_bytes`): the smallest limit on the path from its cgroup
/// to the root, or `None` when there is none.
pub(crate) fn cgroup_memory_limit() -> Option<u64> {
    limiting_cgroup().map(|(limit, _)| limit)
}

/// The memory the limiting cgroup (see [`cgroup_memory_limit`]) is charged
/// with (v2 `memory.current`, v1 `memory.usage_in_bytes`): what its limit
/// is measured against, page cache included.
pub(crate) fn cgroup_memory_usage() -> Option<u64> {
    let (_, usage) = limiting_cgroup()?;
    let text = std::fs::read_to_string(usage).ok()?;
    text.trim().parse().ok()
}

fn limiting_cgroup() -> Option<(u64, PathBuf)> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    limiting_cgroup_under(Path::new("/sys/fs/cgroup"), &membership)
}

/// [`cgroup_memory_limit`] with the cgroup file system mounted at `root`
/// and `membership` read from `/proc/self/cgroup`.
#[cfg(test)]
pub(crate) fn cgroup_memory_limit_under(root: &Path, membership: &str) -> Option<u64> {
    limiting_cgroup_under(root, membership).map(|(limit, _)| limit)
}

/// The smallest limit on the process's path, with its cgroup's usage file.
fn limiting_cgroup_under(root: &Path, membership: &str) -> Option<(u64, PathBuf)> {
    // (limit file, usage file)
    let mut candidates: Vec<(PathBuf, PathBuf)> = Vec::new();
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let path = path.trim_start_matches('/');
        if controllers.is_empty() {
            // cgroup v2: every ancestor's memory.max applies.
            for dir in ancestors(&root.join(path), root) {
                candidates.push((dir.join("memory.max"), dir.join("memory.current")));
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            let base = root.join("memory");
            for dir in ancestors(&base.join(path), &base) {
                candidates.push((
                    dir.join("memory.limit_in_bytes"),
                    dir.join("memory.usage_in_bytes"),
                ));
            }
        }
    }
    candidates
        .into_iter()
        .filter_map(|(limit, usage)| Some((limit_in_file(&limit)?, usage)))
        .min_by_key(|(limit, _)| *limit)
}

/// The memory limit a file holds, as cgroup v2's `memory.max` (a number of
/// bytes, or `max`) and v1's `memory.limit_in_bytes` write it; a size with a
/// unit (`2GiB`) reads too. `None` when the file says there is no limit, or
/// cannot be read.
pub(crate) fn limit_in_file(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    heapsnap_format::units::parse_bytes(text.trim())
        .ok()
        .filter(|&limit| limit > 0 && limit < UNLIMITED)
}

/// `dir` and its parents, up to and including `root`. In a container the
/// process's cgroup path may not exist under the mount (the container sees
/// its own cgroup as the root), which the root itself covers.
fn ancestors<'a>(dir: &'a Path, root: &'a Path) -> impl Iterator<Item = &'a Path> {
    dir.ancestors().take_while(move |d| d.starts_with(root))
}

/// Returns the free pages of the profiled allocator to the system at once.
pub(crate) fn give_back_freed(allocator: Option<Allocator>) {
    match allocator {
        #[cfg(heapsnap_jemalloc)]
        Some(Allocator::Jemalloc) => crate::sys::jemalloc_purge(),
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        Some(Allocator::System) => crate::sys::trim_system_heap(),
        _ => {}
    }
}

/// jemalloc's statistics (the `jemalloc-stats` feature builds jemalloc with
/// them); only called when jemalloc is the profiled allocator. Refreshing them
/// (`epoch::advance`) costs ~12 µs: once per snapshot.
#[cfg(all(heapsnap_jemalloc, feature = "jemalloc-stats"))]
pub(crate) fn jemalloc_stats() -> Option<super::AllocatorStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    let mut out = super::AllocatorStats::default();
    out.allocated = stats::allocated::read().ok()? as u64;
    out.active = stats::active::read().ok()? as u64;
    out.resident = stats::resident::read().ok()? as u64;
    out.mapped = stats::mapped::read().ok()? as u64;
    out.retained = stats::retained::read().ok()? as u64;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, contents) in files {
            let file = dir.path().join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, contents).unwrap();
        }
        dir
    }

    #[test]
    fn v2_limit_is_the_smallest_on_the_path() {
        let root = fixture(&[
            ("memory.max", "max\n"),
            ("system.slice/memory.max", "1073741824\n"),
            ("system.slice/app.service/memory.max", "max\n"),
        ]);
        let limit = cgroup_memory_limit_under(root.path(), "0::/system.slice/app.service\n");
        assert_eq!(limit, Some(1 << 30));
    }

    #[test]
    fn v2_container_root() {
        let root = fixture(&[("memory.max", "536870912\n")]);
        assert_eq!(
            cgroup_memory_limit_under(root.path(), "0::/\n"),
            Some(512 << 20)
        );
    }

    #[test]
    fn v1_limit_and_unlimited() {
        let root = fixture(&[
            ("memory/docker/abc/memory.limit_in_bytes", "268435456\n"),
            ("memory/memory.limit_in_bytes", "9223372036854771712\n"),
        ]);
        let membership = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n";
        assert_eq!(
            cgroup_memory_limit_under(root.path(), membership),
            Some(256 << 20)
        );
        assert_eq!(cgroup_memory_limit_under(root.path(), "4:memory:/\n"), None);
    }

    #[test]
    fn rss_is_plausible() {
        let rss = rss_bytes().unwrap();
        assert!(rss > 100 * 1024 && rss < 64 << 30, "{rss}");
    }
}
