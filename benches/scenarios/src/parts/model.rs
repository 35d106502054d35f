//! Types shared by several parts: a session is stored by value both by the
//! leaking store and by its bounded twin.

use super::text;

/// A user's session, stored by value.
#[allow(dead_code, reason = "what a real server would keep")]
pub struct Session {
    pub id: u64,
    pub user: String,
    pub payload: Vec<u8>,
    pub roles: Vec<String>,
}

impl Session {
    /// A session of about `bytes` heap bytes.
    #[inline(never)]
    pub fn new(id: u64, bytes: usize) -> Session {
        Session {
            id,
            user: text(id, 24),
            payload: vec![(id % 251) as u8; bytes.saturating_sub(120).max(16)],
            roles: vec![text(id ^ 7, 12), text(id ^ 9, 16)],
        }
    }
}
