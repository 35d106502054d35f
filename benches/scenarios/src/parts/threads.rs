//! A thread per connection, each with its own buffers, gone when the
//! connection closes.

use super::{Kept, Run};

#[inline(never)]
fn serve_connection(id: u64, bytes: u64) -> usize {
    let buffers: Vec<Vec<u8>> = (0..4)
        .map(|i| vec![(id + i) as u8; (bytes / 4) as usize])
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1 + id % 5));
    buffers.iter().map(Vec::len).sum()
}

pub fn run(run: &Run, threads_per_sec: f64, bytes_per_thread: u64) -> Kept {
    let mut running = Vec::new();
    run.paced(threads_per_sec, |id| {
        running.push(std::thread::spawn(move || {
            serve_connection(id, bytes_per_thread)
        }));
        if running.len() > 32 {
            for thread in running.drain(..16) {
                let _ = thread.join();
            }
        }
    });
    for thread in running {
        let _ = thread.join();
    }
    Box::new(())
}
