//! A child forked while its parent writes dumps can always dump: no lock of
//! the dump path is inherited held. Children forked while a parent thread
//! writes numbered dumps in a loop, then while automatic dumps run every
//! 100 ms, each call `dump_to_dir` and `AutoDumpHandle::dump_now` and exit;
//! none may hang.

#![allow(unsafe_code)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// Children per phase.
const CHILDREN: usize = 100;
/// A child that has not exited by then is hung.
const CHILD_LIMIT: Duration = Duration::from_secs(30);
/// Forking stops after this many hung children: the test has failed.
const ENOUGH_HUNG: usize = 3;

#[test]
fn a_child_forked_during_dumps_can_dump() {
    common::watchdog(Duration::from_secs(900), "forking during dumps");
    heapsnap::set_sample_interval(4096);
    let scratch = tempfile::tempdir().unwrap();
    let parent_dir = scratch.path().join("parent");
    let child_dir = scratch.path().join("child");

    // Phase 1: a thread of the parent dumps in a loop.
    let stop = Arc::new(AtomicBool::new(false));
    let looping = {
        let (stop, dir) = (Arc::clone(&stop), parent_dir.clone());
        std::thread::spawn(move || {
            let mut written = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let kept: Vec<Vec<u8>> = (0..32).map(|i| vec![1u8; 4096 + i]).collect();
                heapsnap::dump_to_dir(&dir).expect("the parent's dump");
                drop(kept);
                written += 1;
            }
            written
        })
    };
    let mut hung = fork_children(&child_dir, None);
    stop.store(true, Ordering::Relaxed);
    assert!(looping.join().unwrap() > 0, "the parent wrote no dump");

    // Phase 2: automatic dumps every 100 ms.
    let dumps = heapsnap::AutoDump::new(scratch.path().join("auto"))
        .interval(Some(Duration::from_millis(100)))
        .on_exit(false)
        .start()
        .expect("automatic dumps");
    hung.extend(fork_children(&child_dir, Some(&dumps)));
    dumps.stop();
    assert!(
        hung.is_empty(),
        "{} of {} children hung; the first one's stacks:\n{}",
        hung.len(),
        2 * CHILDREN,
        hung.first().map(String::as_str).unwrap_or("")
    );
}

/// Forks `CHILDREN` children one after another; each dumps into `dir`
/// (and asks the running automatic dumps, which did not follow it, for one:
/// refused at once) and exits. Returns the stacks of those that hung.
fn fork_children(dir: &std::path::Path, dumps: Option<&heapsnap::AutoDumpHandle>) -> Vec<String> {
    let mut hung = Vec::new();
    for i in 0..CHILDREN {
        // Let the parent's dumping get under way at varied points.
        std::thread::sleep(Duration::from_millis((i % 7) as u64 * 3));
        // SAFETY: the child runs only the code below and leaves with
        // `_exit`; that it may allocate and dump after a fork in a threaded
        // process is what this test checks.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = heapsnap::dump_to_dir(dir).is_ok()
                && dumps.is_none_or(|dumps| dumps.dump_now().is_err());
            // SAFETY: ends the child without running the parent's atexit
            // handlers or test harness.
            unsafe { libc::_exit(if ok { 0 } else { 3 }) };
        }
        if let Some(stacks) = wait(pid) {
            hung.push(stacks);
            if hung.len() >= ENOUGH_HUNG {
                break;
            }
        }
    }
    hung
}

/// Waits for a child: `None` when it exited with status 0; its stacks
/// when it was still running after `CHILD_LIMIT` (then killed). A child
/// that failed fails the test.
fn wait(pid: libc::pid_t) -> Option<String> {
    match common::stress::wait_or_stacks(pid, CHILD_LIMIT) {
        Ok(status) => {
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "a child's dump failed: status {status}"
            );
            None
        }
        Err(stacks) => Some(stacks),
    }
}
