//! Sessions stored by value in a map, never removed once they leak.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::model::Session;
use super::{Kept, Run};
use heapsnap_scenarios::plan::Leak;

/// Sessions by id.
#[derive(Default)]
pub struct SessionStore {
    sessions: Mutex<HashMap<u64, Session>>,
}

impl SessionStore {
    #[inline(never)]
    pub fn insert(&self, id: u64, session: Session) {
        self.sessions.lock().unwrap().insert(id, session);
    }

    #[inline(never)]
    pub fn remove(&self, id: u64) {
        self.sessions.lock().unwrap().remove(&id);
    }
}

pub fn run(run: &Run, leak: &Leak) -> Kept {
    let store = SessionStore::default();
    let mut active: VecDeque<u64> = VecDeque::new();
    let mut rng = fastrand::Rng::with_seed(leak.object_bytes as u64 ^ 11);
    run.paced(leak.bytes_per_sec / leak.object_bytes as f64, |id| {
        store.insert(id, Session::new(id, leak.object_bytes));
        active.push_back(id);
        if active.len() > 64
            && let Some(ended) = active.pop_front()
        {
            if run.fraction() >= leak.start_fraction && rng.f64() < leak.leak_fraction {
                // The bug: logging out forgets to remove the session.
                run.leak(leak.object_bytes as u64 + 60);
            } else {
                store.remove(ended);
            }
        }
    });
    Box::new(store)
}
