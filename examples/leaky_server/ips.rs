//! The connection registry: the open channels of each client address, so
//! that a message can reach every channel of a client.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::channel::ChannelContext;

/// Open channels by client address.
#[derive(Default)]
pub struct Ips {
    by_addr: Mutex<HashMap<String, HashSet<Arc<ChannelContext>>>>,
}

impl Ips {
    /// Registers an open channel under its client address.
    pub fn bind(&self, channel: &Arc<ChannelContext>) {
        let addr = channel.addr();
        let mut by_addr = self.by_addr.lock().unwrap();
        by_addr.entry(addr).or_default().insert(Arc::clone(channel));
    }

    /// Forgets a channel, looked up under its client address.
    pub fn unbind(&self, channel: &ChannelContext) {
        let addr = channel.addr();
        let mut by_addr = self.by_addr.lock().unwrap();
        // When the address has changed since `bind`, nothing is found and
        // the channel stays registered forever.
        if let Some(channels) = by_addr.get_mut(&addr) {
            channels.remove(channel);
            if channels.is_empty() {
                by_addr.remove(&addr);
            }
        }
    }

    /// Channels registered.
    pub fn len(&self) -> usize {
        let by_addr = self.by_addr.lock().unwrap();
        by_addr.values().map(HashSet::len).sum()
    }
}
