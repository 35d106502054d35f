//! The chat gateway: accepts client connections, registers each channel,
//! delivers messages, and unregisters the channel when the client quits.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::channel::ChannelContext;
use crate::ips::Ips;
use crate::parts::{AuditQueue, History, Message, ProfileCache};

pub struct Gateway {
    pub ips: Ips,
    pub profiles: ProfileCache,
    pub history: History,
    pub audit: Arc<AuditQueue>,
    next_id: AtomicU64,
    /// Unregister before closing (the fix) instead of after (the bug).
    fixed: bool,
}

impl Gateway {
    pub fn new(fixed: bool) -> Gateway {
        Gateway {
            ips: Ips::default(),
            profiles: ProfileCache::new(8192),
            history: History::new(10_000),
            audit: Arc::new(AuditQueue::default()),
            next_id: AtomicU64::new(1),
            fixed,
        }
    }

    /// Serves connections from `listener` on `workers` threads.
    pub fn serve(self: &Arc<Self>, listener: TcpListener, workers: usize) -> io::Result<()> {
        let listener = Arc::new(listener);
        for i in 0..workers {
            let gateway = Arc::clone(self);
            let listener = Arc::clone(&listener);
            std::thread::Builder::new()
                .name(format!("gateway-{i}"))
                .spawn(move || {
                    for stream in listener.incoming().flatten() {
                        // A client that goes away mid-conversation is
                        // nothing to report.
                        let _ = gateway.handle(stream);
                    }
                })?;
        }
        Ok(())
    }

    /// One client, from `HELLO user` to `QUIT`.
    fn handle(&self, stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let addr = stream.peer_addr()?.to_string();
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut writer = stream;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let user = line
            .trim()
            .strip_prefix("HELLO ")
            .unwrap_or("anonymous")
            .to_owned();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let channel = Arc::new(ChannelContext::new(id, addr, user));
        self.ips.bind(&channel);
        let _own_profile = self.profiles.get(user_id(&channel.user));

        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            match line.trim_end().split_once(' ') {
                Some(("MSG", rest)) => {
                    let reply = self.deliver(&channel, rest);
                    writer.write_all(reply.as_bytes())?;
                }
                _ => break,
            }
        }
        self.close(&channel);
        writer.write_all(b"BYE\n")
    }

    fn close(&self, channel: &ChannelContext) {
        if self.fixed {
            self.ips.unbind(channel);
            channel.close();
        } else {
            // The incident: the address is rewritten before `unbind` uses it.
            channel.close();
            self.ips.unbind(channel);
        }
    }

    /// `MSG <to> <text>`: records the message and acknowledges it.
    fn deliver(&self, from: &ChannelContext, rest: &str) -> String {
        let (to, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let message = Message {
            from: from.user.clone(),
            to: to.to_owned(),
            text: text.to_owned(),
        };
        self.audit.push(&from.user, "message");
        let reply = format!("OK {} {}\n", message.to, message.text.len());
        self.history.record(message);
        reply
    }
}

/// `user-123` -> 123.
fn user_id(user: &str) -> u64 {
    user.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
