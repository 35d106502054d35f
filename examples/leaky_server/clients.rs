//! The load generator: clients that connect, say hello, send a few
//! messages and quit, at a steady rate.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Messages each client sends before quitting.
const MESSAGES: usize = 4;

/// Runs `threads` client threads making `rate` connections per second in
/// all, for `duration`; returns the conversations completed.
pub fn run(addr: SocketAddr, rate: u32, duration: Duration, threads: u32) -> u64 {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let per_thread = f64::from(rate) / f64::from(threads);
                let start = Instant::now();
                let mut done = 0u64;
                let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(t);
                while start.elapsed() < duration {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    if converse(addr, seed >> 33).is_ok() {
                        done += 1;
                    }
                    // Keep to the rate: wait for this client's next turn.
                    let due = Duration::from_secs_f64(done as f64 / per_thread);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                done
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
}

/// One client's conversation.
fn converse(addr: SocketAddr, seed: u64) -> io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let user = seed % 20_000;
    writeln!(writer, "HELLO user-{user}")?;
    let mut line = String::new();
    for i in 0..MESSAGES as u64 {
        let to = (seed / 7 + i * 131) % 20_000;
        writeln!(writer, "MSG {to} hello from user-{user}, message {i}")?;
        line.clear();
        reader.read_line(&mut line)?;
    }
    writeln!(writer, "QUIT")?;
    line.clear();
    reader.read_line(&mut line)?;
    Ok(())
}
