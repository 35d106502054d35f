//! Programs some tests drive (Go's `go tool pprof`, headless Chromium):
//! found on the `PATH`, or the test is skipped with a note; in CI
//! (`CI=true`), where `.ci/run` installs them, a missing one fails it.

use std::path::PathBuf;
use std::process::Command;

/// The first of `names` that answers `version_arg`; `None` (and a note on
/// standard error) when none does outside CI. `package` is the Debian
/// package that provides it.
pub fn find(names: &[&str], version_arg: &str, package: &str) -> Option<PathBuf> {
    let found = names.iter().find(|name| {
        Command::new(name)
            .arg(version_arg)
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{} is not installed: .ci/run installs {package}", names[0]);
        }
        eprintln!(
            "skipped: {} is not installed (apt-get install {package})",
            names[0]
        );
    }
    found.map(PathBuf::from)
}
