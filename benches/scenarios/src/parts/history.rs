//! The newest chat messages, at most so many: fills, then holds.

use std::collections::VecDeque;

use super::{Kept, Run, text};

/// Recent messages.
pub struct History {
    messages: VecDeque<String>,
    capacity: usize,
}

impl History {
    #[inline(never)]
    pub fn record(&mut self, message: String) {
        if self.messages.len() == self.capacity {
            self.messages.pop_front();
        }
        self.messages.push_back(message);
    }
}

pub fn run(run: &Run, bytes: u64, fill_fraction: f64) -> Kept {
    const MESSAGE_BYTES: u64 = 160;
    let capacity = (bytes / MESSAGE_BYTES).max(8) as usize;
    let mut history = History {
        messages: VecDeque::new(),
        capacity,
    };
    run.paced(capacity as f64 / (fill_fraction * run.seconds), |id| {
        history.record(text(id, MESSAGE_BYTES as usize));
        if id + 1 == capacity as u64 {
            run.settle("history");
        }
    });
    Box::new(history)
}
