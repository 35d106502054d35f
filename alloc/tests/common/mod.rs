//! Helpers shared by the allocator's integration tests. Each test binary
//! installs its own global allocator and includes this module.

#![allow(dead_code)]

use std::time::Duration;

use heapsnap::snapshot::{Frame, Site, Snapshot};
use heapsnap_format::names::is_library_frame;

/// The innermost frame of `site` outside the standard library.
pub fn innermost_user_frame<'a>(snap: &'a Snapshot, site: &Site) -> Option<&'a Frame> {
    snap.site_frames(site).find(|f| !is_library_frame(f))
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
