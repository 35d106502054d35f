//! A routing table of many small entries, loaded once at some moment of
//! the run and kept.

use super::{Kept, Run, text};

/// A route to an upstream.
#[allow(dead_code, reason = "read by lookups a real gateway would make")]
pub struct Route {
    prefix: String,
    upstream: String,
}

/// The routes, as loaded.
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    #[inline(never)]
    pub fn load(bytes: u64) -> RouteTable {
        let count = (bytes / 96).max(1);
        RouteTable {
            routes: (0..count)
                .map(|i| Route {
                    prefix: format!("10.{}.{}.0/24", i % 250, (i / 250) % 250),
                    upstream: text(i, 24),
                })
                .collect(),
        }
    }
}

pub fn run(run: &Run, bytes: u64, at_fraction: f64) -> Kept {
    if !run.wait_until(at_fraction) {
        return Box::new(());
    }
    let table = RouteTable::load(bytes);
    run.settle("oneoff");
    while !run.stopped() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::hint::black_box(table.routes.len());
    Box::new(table)
}
