//! Messages parsed from the network by `serde_json` in one function, then
//! moved into a map by another, on `tokio` tasks; acknowledged messages
//! are removed, and some acknowledgements never come.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, BytesMut};
use serde::Deserialize;

use super::{Kept, Run, text};
use heapsnap_scenarios::plan::Leak;

/// A message as received.
#[derive(Deserialize)]
#[allow(dead_code, reason = "what a real server would keep")]
pub struct Message {
    id: u64,
    sender: String,
    body: String,
    headers: HashMap<String, String>,
}

/// Messages waiting for their acknowledgement.
#[derive(Default)]
pub struct Inbox {
    messages: Mutex<HashMap<u64, Message>>,
}

impl Inbox {
    /// Parses a message off the wire.
    #[inline(never)]
    pub fn receive(raw: &[u8]) -> Option<Message> {
        serde_json::from_slice(raw).ok()
    }

    #[inline(never)]
    pub fn store(&self, message: Message) {
        self.messages.lock().unwrap().insert(message.id, message);
    }

    #[inline(never)]
    pub fn ack(&self, id: u64) {
        self.messages.lock().unwrap().remove(&id);
    }
}

/// A message on the wire, about `bytes` long.
fn wire(id: u64, bytes: usize) -> BytesMut {
    let mut raw = BytesMut::with_capacity(bytes + 128);
    raw.put_slice(
        format!(
            r#"{{"id":{id},"sender":"{}","body":"{}","headers":{{"trace":"{}","route":"{}"}}}}"#,
            text(id, 16),
            text(id ^ 1, bytes.saturating_sub(150).max(8)),
            text(id ^ 2, 16),
            text(id ^ 4, 8)
        )
        .as_bytes(),
    );
    raw
}

pub fn run(run: &Run, leak: &Leak) -> Kept {
    let inbox = Arc::new(Inbox::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<BytesMut>(1024);
    let consumer = {
        let (inbox, run, leak) = (Arc::clone(&inbox), run.clone(), leak.clone());
        runtime.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(leak.object_bytes as u64 ^ 13);
            let mut pending = std::collections::VecDeque::new();
            while let Some(raw) = receiver.recv().await {
                let Some(message) = Inbox::receive(&raw) else {
                    continue;
                };
                let id = message.id;
                inbox.store(message);
                pending.push_back(id);
                if pending.len() > 64
                    && let Some(done) = pending.pop_front()
                {
                    if run.fraction() >= leak.start_fraction && rng.f64() < leak.leak_fraction {
                        // The bug: this acknowledgement is lost.
                        run.leak(leak.object_bytes as u64 + 100);
                    } else {
                        inbox.ack(done);
                    }
                }
            }
        })
    };
    {
        let (run, leak) = (run.clone(), leak.clone());
        runtime.block_on(async move {
            let per_sec = leak.bytes_per_sec / leak.object_bytes as f64;
            let started = tokio::time::Instant::now();
            let mut sent = 0u64;
            while !run.stopped() {
                let due = (started.elapsed().as_secs_f64() * per_sec) as u64;
                while sent < due {
                    if sender.send(wire(sent, leak.object_bytes)).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        });
    }
    let _ = runtime.block_on(consumer);
    runtime.shutdown_background();
    Box::new(inbox)
}
