//! Helpers shared by the allocator's integration tests. Each test binary
//! installs its own global allocator and includes this module.

#![allow(dead_code)]

use std::time::Duration;

use heapsnap::snapshot::{Frame, Site, Snapshot};

/// Function-name prefixes of the standard library and hashbrown.
const LIBRARY_PREFIXES: [&str; 4] = ["std::", "core::", "alloc::", "hashbrown::"];

fn in_library(path: &str) -> bool {
    LIBRARY_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// True for frames of the standard library or its collections, including
/// library trait impls for primitive types (`<u8 as alloc::...>::from_elem`).
pub fn is_library(frame: &Frame) -> bool {
    let name = frame.function.as_deref().unwrap_or("");
    let Some(qualified) = name.strip_prefix('<') else {
        return in_library(name);
    };
    match qualified.split_once(" as ") {
        Some((ty, tr)) => in_library(ty) || (!ty.contains("::") && in_library(tr)),
        None => in_library(qualified),
    }
}

/// The innermost frame of `site` outside the standard library.
pub fn innermost_user_frame<'a>(snap: &'a Snapshot, site: &Site) -> Option<&'a Frame> {
    snap.site_frames(site).find(|f| !is_library(f))
}

/// Sites whose innermost user frame is the function `name` (a path suffix,
/// such as `exact::small_blocks`) or a closure inside it.
pub fn sites_at<'a>(snap: &'a Snapshot, name: &str) -> Vec<&'a Site> {
    snap.sites
        .iter()
        .filter(|site| {
            innermost_user_frame(snap, site)
                .and_then(|f| f.function.as_deref())
                .map(without_closures)
                .is_some_and(|f| f == name || f.ends_with(&format!("::{name}")))
        })
        .collect()
}

/// `app::f::{closure#0}::{closure#1}` -> `app::f`.
fn without_closures(mut function: &str) -> &str {
    while let Some(outer) = function
        .strip_suffix('}')
        .and_then(|f| f.rsplit_once("::{closure"))
    {
        function = outer.0;
    }
    function
}

/// Sites with a frame anywhere in their stack whose function contains
/// `needle`.
pub fn sites_through<'a>(snap: &'a Snapshot, needle: &str) -> Vec<&'a Site> {
    snap.sites
        .iter()
        .filter(|site| {
            snap.site_frames(site)
                .any(|f| f.function.as_deref().is_some_and(|n| n.contains(needle)))
        })
        .collect()
}

/// Aborts the whole test process if it is still running after `limit`: a
/// deadlock must fail the test, not hang CI.
pub fn watchdog(limit: Duration, what: &'static str) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("watchdog: {what} did not finish within {limit:?}; aborting (deadlock?)");
        std::process::abort();
    });
}

pub mod stress;
