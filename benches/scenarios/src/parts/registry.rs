//! The first incident: a registry of open connections by address whose
//! unbind misses, because closing rewrote the address first. Optionally a
//! heartbeat lists every connection now and then (a transient collection
//! of the registry's own element type).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Kept, Run, text};
use heapsnap_scenarios::plan::Leak;

/// An open connection.
#[allow(dead_code, reason = "what a real gateway would keep")]
pub struct Connection {
    id: u64,
    addr: Mutex<String>,
    user: String,
    buffer: Vec<u8>,
    attrs: HashMap<String, String>,
}

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Connection {}

impl Hash for Connection {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl Connection {
    #[inline(never)]
    pub fn open(id: u64, bytes: usize) -> Connection {
        let mut attrs = HashMap::new();
        attrs.insert("client".to_owned(), text(id, 10));
        attrs.insert("region".to_owned(), text(id ^ 3, 6));
        Connection {
            id,
            addr: Mutex::new(format!(
                "10.{}.{}.{}:{}",
                id % 250,
                (id / 250) % 250,
                id % 7,
                1024 + id % 60000
            )),
            user: text(id ^ 5, 16),
            buffer: vec![0u8; bytes.saturating_sub(200).max(16)],
            attrs,
        }
    }

    fn addr(&self) -> String {
        self.addr.lock().unwrap().clone()
    }
}

/// Open connections by client address.
#[derive(Default)]
pub struct Registry {
    by_addr: Mutex<HashMap<String, HashSet<Arc<Connection>>>>,
}

impl Registry {
    #[inline(never)]
    pub fn bind(&self, addr: &str, conn: Arc<Connection>) {
        self.by_addr
            .lock()
            .unwrap()
            .entry(addr.to_owned())
            .or_default()
            .insert(conn);
    }

    #[inline(never)]
    pub fn unbind(&self, addr: &str, conn: &Arc<Connection>) {
        let mut map = self.by_addr.lock().unwrap();
        if let Some(set) = map.get_mut(addr) {
            set.remove(conn);
            if set.is_empty() {
                map.remove(addr);
            }
        }
    }

    /// Every open connection, for a health check.
    #[inline(never)]
    pub fn heartbeat(&self) -> Vec<Arc<Connection>> {
        self.by_addr
            .lock()
            .unwrap()
            .values()
            .flatten()
            .cloned()
            .collect()
    }
}

pub fn run(run: &Run, leak: &Leak) -> Kept {
    let registry = Arc::new(Registry::default());
    if leak.transient_twin {
        let (registry, run) = (Arc::clone(&registry), run.clone());
        std::thread::spawn(move || {
            while !run.stopped() {
                let all = registry.heartbeat();
                std::hint::black_box(all.len());
                std::thread::sleep(Duration::from_millis(150));
            }
        });
    }
    let mut open: VecDeque<Arc<Connection>> = VecDeque::new();
    let mut rng = fastrand::Rng::with_seed(leak.object_bytes as u64);
    run.paced(leak.bytes_per_sec / leak.object_bytes as f64, |id| {
        let conn = Arc::new(Connection::open(id, leak.object_bytes));
        registry.bind(&conn.addr(), Arc::clone(&conn));
        open.push_back(conn);
        if open.len() > 64
            && let Some(closing) = open.pop_front()
        {
            if run.fraction() >= leak.start_fraction && rng.f64() < leak.leak_fraction {
                // The bug: the address is rewritten before unbind looks it up.
                *closing.addr.lock().unwrap() = "$UNKNOWN".to_owned();
                run.leak(leak.object_bytes as u64 + 200);
            }
            registry.unbind(&closing.addr(), &closing);
        }
    });
    Box::new((registry, open))
}
