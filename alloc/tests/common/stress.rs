//! A random allocation workload that checks every byte it wrote: several
//! threads allocate, reallocate and free blocks of random sizes and
//! alignments, hand blocks to each other to free, exit and are replaced
//! (with thread-local destructors that allocate), while the main thread
//! takes snapshots and forks a child that allocates and snapshots too.

#![allow(unsafe_code)]

use std::alloc::{Layout, alloc, dealloc, realloc};
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// A block whose every byte is a function of its seed.
struct Block {
    ptr: *mut u8,
    layout: Layout,
    seed: u64,
}

// SAFETY: a `Block` owns its allocation; any thread may check and free it.
unsafe impl Send for Block {}

fn pattern(seed: u64, i: usize) -> u8 {
    (seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i as u64 * 0x1000_0001)
        >> 24) as u8
}

impl Block {
    fn new(rng: &mut u64) -> Block {
        let size = random_size(rng);
        let align = [1, 8, 16, 64, 4096][(next(rng) % 5) as usize];
        let layout = Layout::from_size_align(size, align).unwrap();
        // SAFETY: `size` is at least 1.
        let ptr = unsafe { alloc(layout) };
        assert!(!ptr.is_null(), "allocation failed");
        assert_eq!(ptr as usize % align, 0, "misaligned block");
        let mut block = Block {
            ptr,
            layout,
            seed: next(rng),
        };
        block.fill(0);
        block
    }

    fn fill(&mut self, from: usize) {
        for i in from..self.layout.size() {
            // SAFETY: `i` is within the block.
            unsafe { self.ptr.add(i).write(pattern(self.seed, i)) };
        }
    }

    fn check(&self, upto: usize) {
        for i in 0..upto.min(self.layout.size()) {
            // SAFETY: `i` is within the block.
            let byte = unsafe { self.ptr.add(i).read() };
            assert_eq!(
                byte,
                pattern(self.seed, i),
                "corrupted byte {i} of a {:?} block",
                self.layout
            );
        }
    }

    fn resize(&mut self, rng: &mut u64) {
        let new_size = random_size(rng);
        self.check(self.layout.size());
        // SAFETY: `ptr` was allocated with `layout`; `new_size` is non-zero
        // and, rounded up to the alignment, cannot overflow.
        let ptr = unsafe { realloc(self.ptr, self.layout, new_size) };
        assert!(!ptr.is_null(), "realloc failed");
        let kept = self.layout.size().min(new_size);
        self.ptr = ptr;
        self.layout = Layout::from_size_align(new_size, self.layout.align()).unwrap();
        self.check(kept);
        self.fill(kept);
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.check(self.layout.size());
        // SAFETY: allocated with `layout`, freed once.
        unsafe { dealloc(self.ptr, self.layout) };
    }
}

fn next(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// Mostly small, sometimes medium, rarely large.
fn random_size(rng: &mut u64) -> usize {
    match next(rng) % 100 {
        0..60 => 1 + (next(rng) % 64) as usize,
        60..95 => 64 + (next(rng) % 4096) as usize,
        _ => 4096 + (next(rng) % (64 << 10)) as usize,
    }
}

thread_local! {
    /// Allocates in its destructor, which runs during thread exit.
    static EXIT_WORK: RefCell<ExitWork> = const { RefCell::new(ExitWork(Vec::new())) };
}

struct ExitWork(Vec<String>);

impl Drop for ExitWork {
    fn drop(&mut self) {
        let joined: String = self.0.concat();
        let copy: Vec<u8> = joined.bytes().rev().collect();
        assert_eq!(copy.len(), joined.len());
    }
}

#[inline(never)]
fn stress_worker(
    id: u64,
    ops: usize,
    outbox: Vec<Sender<Block>>,
    inbox: Receiver<Block>,
    freed: &AtomicU64,
) {
    let mut rng = 0x2545_F491_4F6C_DD1D ^ (id + 1).wrapping_mul(0x9E37_79B9);
    let mut blocks: Vec<Block> = Vec::new();
    EXIT_WORK.with(|w| w.borrow_mut().0.push(format!("thread {id} exiting")));
    for op in 0..ops {
        match next(&mut rng) % 10 {
            0..4 => blocks.push(Block::new(&mut rng)),
            4..6 if !blocks.is_empty() => {
                let i = (next(&mut rng) as usize) % blocks.len();
                blocks[i].resize(&mut rng);
            }
            6..8 if !blocks.is_empty() => {
                let i = (next(&mut rng) as usize) % blocks.len();
                drop(blocks.swap_remove(i));
                freed.fetch_add(1, Ordering::Relaxed);
            }
            8 if !blocks.is_empty() => {
                let i = (next(&mut rng) as usize) % blocks.len();
                let to = (next(&mut rng) as usize) % outbox.len();
                // The peer may have exited; then the block comes back.
                if let Err(back) = outbox[to].send(blocks.swap_remove(i)) {
                    blocks.push(back.0);
                }
            }
            _ => {}
        }
        if blocks.len() > 200 {
            blocks.truncate(100);
        }
        while let Ok(block) = inbox.try_recv() {
            drop(block);
            freed.fetch_add(1, Ordering::Relaxed);
        }
        if op % 1000 == 0 {
            std::thread::yield_now();
        }
    }
    drop(blocks);
}

/// Runs the workload with `threads` workers in `rounds` generations of
/// threads (each generation exits before the next starts, while blocks it
/// sent are still in flight), taking snapshots all along and forking once
/// per generation while its workers run. Returns the number of cross-thread and local frees.
pub fn run(threads: usize, rounds: usize, ops: usize) -> u64 {
    let freed = Arc::new(AtomicU64::new(0));
    let stop_snapshots = Arc::new(AtomicBool::new(false));
    let snapshotter = {
        let stop = Arc::clone(&stop_snapshots);
        std::thread::spawn(move || {
            let mut taken = 0;
            while !stop.load(Ordering::Relaxed) {
                let snap = heapsnap::snapshot();
                assert!(snap.validate().is_ok());
                taken += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            taken
        })
    };
    for round in 0..rounds {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..threads).map(|_| channel::<Block>()).unzip();
        let workers: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(i, inbox)| {
                let outbox = senders.clone();
                let freed = Arc::clone(&freed);
                // Blocks still in flight to a worker when it exits are freed
                // by whichever thread drops its channel last.
                std::thread::spawn(move || {
                    stress_worker((round * threads + i) as u64, ops, outbox, inbox, &freed)
                })
            })
            .collect();
        fork_and_snapshot_in_child();
        for worker in workers {
            worker.join().expect("worker panicked");
        }
        drop(senders);
    }
    stop_snapshots.store(true, Ordering::Relaxed);
    let taken = snapshotter.join().expect("snapshotter panicked");
    assert!(taken > 0);
    freed.load(Ordering::Relaxed)
}

/// The whole stress check, for each test binary's global allocator: the
/// workload in exact mode and sampled at 4 KiB and 512 KiB, then no live
/// sample left behind (and in exact mode, every byte allocated was freed),
/// and no sample dropped.
pub fn check_every_interval() {
    for interval in [1, 4096, 512 * 1024] {
        heapsnap::set_sample_interval(interval);
        let freed = run(4, 4, 12_000);
        assert!(freed > 10_000, "only {freed} frees");
        let snap = heapsnap::snapshot();
        let sites = super::sites_through(&snap, "stress_worker");
        assert!(
            !sites.is_empty(),
            "nothing was sampled at interval {interval}"
        );
        let live: u64 = sites.iter().map(|s| s.live_samples).sum();
        assert_eq!(live, 0, "live samples left at interval {interval}");
        if interval == 1 {
            // Exact: everything allocated was freed, to the byte.
            let allocated: u64 = sites.iter().map(|s| s.allocated_bytes).sum();
            let freed_bytes: u64 = sites.iter().map(|s| s.freed_bytes).sum();
            assert_eq!(allocated, freed_bytes);
            assert!(sites.iter().all(|s| s.allocated_allocs == s.freed_allocs));
        }
        assert_eq!(snap.totals.samples_dropped, 0);
    }
}

/// Forks while the workers run. The child allocates, takes a snapshot and
/// exits; it must not deadlock on a lock a parent thread held at the fork.
fn fork_and_snapshot_in_child() {
    // SAFETY: the child only allocates, snapshots and `_exit`s; that is what
    // this test is about.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let strings: Vec<String> = (0..10_000).map(|i| format!("child {i}")).collect();
        let snap = heapsnap::snapshot();
        let ok = snap.validate().is_ok() && strings.len() == 10_000 && snap.process.pid != 0;
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 3 }) };
    }
    wait_for_child(pid, Duration::from_secs(60));
}

/// Forks `forks` times while another thread takes snapshots back to back,
/// so that some forks land while that thread is inside the symboliser or the
/// dynamic loader; each child takes a snapshot of its own.
pub fn fork_during_snapshots(forks: usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let snapshotter = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut taken = 0u32;
            while !stop.load(Ordering::Relaxed) {
                // Fresh allocation sites keep the symboliser busy too.
                let kept: Vec<Box<[u8]>> = (0..64).map(|i| vec![0u8; 64 + i].into()).collect();
                assert!(heapsnap::snapshot().validate().is_ok());
                drop(kept);
                taken += 1;
            }
            taken
        })
    };
    for _ in 0..forks {
        fork_and_snapshot_in_child();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(snapshotter.join().expect("snapshotter panicked") > 0);
}

/// Waits for a forked child to exit with status 0. A child still running
/// after `limit` is deadlocked: its threads' stacks (from gdb, when it is
/// installed) go into the failure message, then it is killed.
fn wait_for_child(pid: libc::pid_t, limit: Duration) {
    match wait_or_stacks(pid, limit) {
        Ok(status) => {
            assert!(libc::WIFEXITED(status), "child died: status {status}");
            assert_eq!(libc::WEXITSTATUS(status), 0, "child's snapshot failed");
        }
        Err(stacks) => panic!("the forked child deadlocked; its stacks:\n{stacks}"),
    }
}

/// Waits for our child `pid`: its wait status when it ends within `limit`;
/// else its threads' stacks (from gdb, when it is installed), after which
/// it is killed and reaped.
pub fn wait_or_stacks(pid: libc::pid_t, limit: Duration) -> Result<i32, String> {
    let deadline = std::time::Instant::now() + limit;
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child without blocking.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return Ok(status);
        }
        if std::time::Instant::now() > deadline {
            let stacks = std::process::Command::new("gdb")
                .args([
                    "-batch",
                    "-p",
                    &pid.to_string(),
                    "-ex",
                    "thread apply all bt",
                ])
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                .unwrap_or_else(|e| format!("(no stacks: gdb: {e})"));
            // SAFETY: kills our own child, then reaps it.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err(stacks);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
