//! A bounded store of sessions by value: the same element type as the
//! leaking session store, but it evicts its oldest.

use std::collections::{HashMap, VecDeque};

use super::model::Session;
use super::{Kept, Run};

/// At most `capacity` recent sessions.
pub struct BoundedStore {
    sessions: HashMap<u64, Session>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl BoundedStore {
    #[inline(never)]
    pub fn put(&mut self, id: u64, session: Session) {
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.sessions.remove(&oldest);
        }
        self.sessions.insert(id, session);
        self.order.push_back(id);
    }
}

pub fn run(run: &Run, bytes: u64, fill_fraction: f64) -> Kept {
    const SESSION_BYTES: u64 = 700;
    let capacity = (bytes / SESSION_BYTES).max(8) as usize;
    let mut store = BoundedStore {
        sessions: HashMap::new(),
        order: VecDeque::new(),
        capacity,
    };
    run.paced(capacity as f64 / (fill_fraction * run.seconds), |id| {
        store.put(id, Session::new(id, SESSION_BYTES as usize));
        if id + 1 == capacity as u64 {
            run.settle("bounded");
        }
    });
    Box::new(store)
}
