//! The second incident: an expression engine compiled per call, and a
//! watcher (for hot reload) that keeps every engine it was shown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Kept, Run, text};
use heapsnap_scenarios::plan::Leak;

/// One instruction.
#[allow(dead_code, reason = "what a real engine would run")]
pub enum Op {
    Push(i64),
    Load(u32),
    Add,
    Call(u32),
}

/// A compiled expression.
#[allow(dead_code, reason = "what a real engine would keep")]
pub struct Engine {
    program: Vec<Op>,
    symbols: HashMap<String, u32>,
    constants: Vec<String>,
}

impl Engine {
    /// Compiles an expression whose program is about `bytes` of heap (its
    /// other allocations are [`ENGINE_OTHER_BYTES`]).
    #[inline(never)]
    pub fn compile(seed: u64, bytes: usize) -> Engine {
        let ops = (bytes / std::mem::size_of::<Op>()).max(4);
        let program = (0..ops as u32)
            .map(|i| match i % 4 {
                0 => Op::Push(i as i64),
                1 => Op::Load(i),
                2 => Op::Add,
                _ => Op::Call(i),
            })
            .collect();
        let symbols = (0..4u64).map(|i| (text(seed ^ i, 10), i as u32)).collect();
        let constants = (0..4u64).map(|i| text(seed ^ (i << 8), 12)).collect();
        Engine {
            program,
            symbols,
            constants,
        }
    }

    fn evaluate(&self) -> i64 {
        self.program.len() as i64
    }
}

/// What a kept engine holds besides its program, in bytes asked of the
/// allocator: the symbol table's buckets (4 entries: 8 buckets of 32 bytes
/// and 24 control bytes), its 4 keys of 10 bytes, the constants' vector (4
/// strings of 24 bytes) and their 4 texts of 12 bytes, the `Arc`'d engine
/// (112 bytes), and its slot in the watcher's vector (8).
const ENGINE_OTHER_BYTES: u64 = 280 + 4 * 10 + 4 * 24 + 4 * 12 + 112 + 8;

/// Engines to recompile when their source changes.
#[derive(Default)]
pub struct Watcher {
    engines: Mutex<Vec<Arc<Engine>>>,
}

impl Watcher {
    #[inline(never)]
    pub fn watch(&self, engine: Arc<Engine>) {
        self.engines.lock().unwrap().push(engine);
    }
}

pub fn run(run: &Run, leak: &Leak) -> Kept {
    let watcher = Watcher::default();
    let mut rng = fastrand::Rng::with_seed(leak.object_bytes as u64 ^ 17);
    run.paced(leak.bytes_per_sec / leak.object_bytes as f64, |id| {
        let engine = Arc::new(Engine::compile(id, leak.object_bytes));
        if run.fraction() >= leak.start_fraction && rng.f64() < leak.leak_fraction {
            // The bug: every engine is watched, and the watcher never lets go.
            watcher.watch(Arc::clone(&engine));
            run.leak(leak.object_bytes as u64 + ENGINE_OTHER_BYTES);
        }
        std::hint::black_box(engine.evaluate());
    });
    Box::new(watcher)
}
