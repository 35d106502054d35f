//! A job queue that fills in bursts and is drained in batches.

use std::collections::VecDeque;

use super::{Kept, Run, text};

/// A queued job.
#[allow(dead_code, reason = "run by a real worker")]
pub struct Job {
    name: String,
    payload: Vec<u8>,
}

/// Jobs waiting for the next batch.
#[derive(Default)]
pub struct JobQueue {
    jobs: VecDeque<Job>,
}

impl JobQueue {
    #[inline(never)]
    pub fn push(&mut self, id: u64, bytes: usize) {
        self.jobs.push_back(Job {
            name: text(id, 16),
            payload: vec![0u8; bytes],
        });
    }

    #[inline(never)]
    pub fn drain(&mut self) -> usize {
        let n = self.jobs.len();
        self.jobs.clear();
        n
    }
}

pub fn run(run: &Run, peak_bytes: u64, period_fraction: f64) -> Kept {
    const JOB_BYTES: usize = 512;
    let period = period_fraction * run.seconds;
    let mut queue = JobQueue::default();
    let mut rng = fastrand::Rng::with_seed(peak_bytes);
    let phase = rng.f64() * period;
    let mut drained_at = 0u64;
    // Bursts: the producer is on or off for random stretches; when on, it
    // fills the queue to about its peak within one period.
    let per_sec = peak_bytes as f64 / JOB_BYTES as f64 / period * 2.0;
    let mut on = true;
    run.paced(per_sec, |id| {
        let cycle = ((run.elapsed() + phase) / period) as u64;
        if cycle != drained_at {
            drained_at = cycle;
            std::hint::black_box(queue.drain());
            on = rng.bool();
        }
        if on {
            queue.push(id, JOB_BYTES);
        }
    });
    Box::new(queue)
}
