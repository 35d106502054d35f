//! One client connection's state.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Instant;

/// What the gateway knows about an open channel.
#[allow(dead_code, reason = "the state a real gateway keeps per channel")]
pub struct ChannelContext {
    id: u64,
    addr: Mutex<String>,
    pub user: String,
    pub opened: Instant,
    pub attributes: HashMap<String, String>,
    /// Bytes received and not yet parsed.
    pub inbound: Vec<u8>,
}

/// What a closed channel's address becomes.
pub const UNKNOWN: &str = "$UNKNOWN";

impl ChannelContext {
    pub fn new(id: u64, addr: String, user: String) -> ChannelContext {
        let mut attributes = HashMap::new();
        attributes.insert("protocol".to_owned(), "chat/1".to_owned());
        attributes.insert("client".to_owned(), format!("{user}@{addr}"));
        attributes.insert("channel".to_owned(), format!("ch-{id:08x}"));
        ChannelContext {
            id,
            addr: Mutex::new(addr),
            user,
            opened: Instant::now(),
            attributes,
            inbound: Vec::with_capacity(1024),
        }
    }

    /// The client address (`ip:port`), or `$UNKNOWN` once closed.
    pub fn addr(&self) -> String {
        self.addr.lock().unwrap().clone()
    }

    /// Marks the channel closed. The address is rewritten first: the bug of
    /// the incident (`unbind` afterwards looks up the wrong address).
    pub fn close(&self) {
        *self.addr.lock().unwrap() = UNKNOWN.to_owned();
    }
}

impl PartialEq for ChannelContext {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for ChannelContext {}

impl Hash for ChannelContext {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}
