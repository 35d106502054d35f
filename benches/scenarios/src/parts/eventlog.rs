//! An event log that records every event and never forgets.

use std::sync::Mutex;

use super::{Kept, Run, text};
use heapsnap_scenarios::plan::Leak;

/// Something that happened.
#[allow(dead_code, reason = "what a real log would keep")]
pub struct Event {
    kind: String,
    payload: Vec<u8>,
}

impl Event {
    #[inline(never)]
    pub fn new(id: u64, bytes: usize) -> Event {
        Event {
            kind: text(id, 12),
            payload: vec![(id % 253) as u8; bytes.saturating_sub(40).max(8)],
        }
    }
}

/// Every event recorded.
#[derive(Default)]
pub struct EventLog {
    events: Mutex<Vec<Event>>,
}

impl EventLog {
    #[inline(never)]
    pub fn record(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }
}

pub fn run(run: &Run, leak: &Leak) -> Kept {
    let log = EventLog::default();
    let mut rng = fastrand::Rng::with_seed(leak.object_bytes as u64 ^ 19);
    run.paced(leak.bytes_per_sec / leak.object_bytes as f64, |id| {
        let event = Event::new(id, leak.object_bytes);
        if run.fraction() >= leak.start_fraction && rng.f64() < leak.leak_fraction {
            // The bug: the audit mode was meant for debugging only.
            log.record(event);
            run.leak(leak.object_bytes as u64 + 30);
        } else {
            std::hint::black_box(event);
        }
    });
    Box::new(log)
}
