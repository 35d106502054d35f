//! The healthy parts of the gateway, whose memory grows for a while and
//! then holds, or rises and falls: none of them is a leak.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// When a part that fills to a bound reached it, counted from its start:
/// what the gateway logs, and what tells a run whose load came too slowly
/// for its caches to warm up.
pub struct Filled {
    started: Instant,
    after: OnceLock<Duration>,
}

impl Filled {
    fn new() -> Filled {
        Filled {
            started: Instant::now(),
            after: OnceLock::new(),
        }
    }

    fn now(&self) {
        self.after.get_or_init(|| self.started.elapsed());
    }

    /// How long it took to fill; `None` while it is still filling.
    pub fn after(&self) -> Option<Duration> {
        self.after.get().copied()
    }
}

/// A user's profile, as fetched from a user service.
#[allow(dead_code, reason = "what a real gateway would show")]
pub struct Profile {
    pub name: String,
    pub bio: String,
    pub friends: Vec<u64>,
}

impl Profile {
    fn fetch(id: u64) -> Profile {
        Profile {
            name: format!("user-{id}"),
            bio: "likes long-running servers; ".repeat(8 + (id % 16) as usize),
            friends: (0..32)
                .map(|i| id.wrapping_mul(31).wrapping_add(i))
                .collect(),
        }
    }
}

/// Profiles of recent users, at most `capacity` of them: warms up, then
/// holds.
pub struct ProfileCache {
    profiles: Mutex<HashMap<u64, Arc<Profile>>>,
    capacity: usize,
    pub filled: Filled,
}

impl ProfileCache {
    pub fn new(capacity: usize) -> ProfileCache {
        ProfileCache {
            profiles: Mutex::new(HashMap::with_capacity(capacity + 1)),
            capacity,
            filled: Filled::new(),
        }
    }

    pub fn get(&self, id: u64) -> Arc<Profile> {
        let mut profiles = self.profiles.lock().unwrap();
        if let Some(profile) = profiles.get(&id) {
            return Arc::clone(profile);
        }
        if profiles.len() >= self.capacity {
            self.filled.now();
            // Evict one: any will do for a cache this simple.
            if let Some(&victim) = profiles.keys().next() {
                profiles.remove(&victim);
            }
        }
        let profile = Arc::new(Profile::fetch(id));
        profiles.insert(id, Arc::clone(&profile));
        profile
    }
}

/// A delivered message.
#[allow(dead_code, reason = "kept for clients that reconnect")]
pub struct Message {
    pub from: String,
    pub to: String,
    pub text: String,
}

/// The newest messages, at most `capacity`: fills, then holds.
pub struct History {
    messages: Mutex<VecDeque<Message>>,
    capacity: usize,
    pub filled: Filled,
}

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            messages: Mutex::new(VecDeque::new()),
            capacity,
            filled: Filled::new(),
        }
    }

    pub fn record(&self, message: Message) {
        let mut messages = self.messages.lock().unwrap();
        if messages.len() == self.capacity {
            self.filled.now();
            messages.pop_front();
        }
        messages.push_back(message);
    }
}

/// Audit events waiting for the next batch upload: the queue rises between
/// uploads and empties at each.
#[derive(Default)]
pub struct AuditQueue {
    events: Mutex<VecDeque<AuditEvent>>,
}

#[allow(dead_code, reason = "read by the audit service")]
pub struct AuditEvent {
    pub user: String,
    pub action: String,
}

impl AuditQueue {
    pub fn push(&self, user: &str, action: &str) {
        let event = AuditEvent {
            user: user.to_owned(),
            action: action.to_owned(),
        };
        self.events.lock().unwrap().push_back(event);
    }

    /// Uploads (here: drops) everything queued every `period`, forever.
    pub fn upload_every(self: Arc<Self>, period: Duration) {
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(period);
                let batch: Vec<AuditEvent> = self.events.lock().unwrap().drain(..).collect();
                std::hint::black_box(batch);
            }
        });
    }
}

/// A route to an upstream, by network prefix.
#[allow(dead_code, reason = "read by lookups a real gateway would make")]
pub struct Route {
    network: [u8; 16],
    prefix_len: u8,
    upstream: u32,
}

/// The routing table, fetched once shortly after start-up and kept for
/// the life of the process: one step up, then flat. The thread returns the
/// table and how long after its start it was loaded.
pub fn load_routes_after(delay: Duration) -> std::thread::JoinHandle<(Vec<Route>, Duration)> {
    std::thread::spawn(move || {
        let started = Instant::now();
        std::thread::sleep(delay);
        let mut routes: Vec<Route> = (0..200_000u32)
            .map(|i| {
                let mut network = [0u8; 16];
                network[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
                Route {
                    network,
                    prefix_len: 16 + (i % 16) as u8,
                    upstream: i % 64,
                }
            })
            .collect();
        routes.sort_by_key(|r| r.network);
        (routes, started.elapsed())
    })
}
