//! Two services that evaluate formulas over report rows: the report
//! service builds a new engine for every call (the incident), the export
//! service shares one engine (the right way).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::engine::Engine;
use crate::watcher::Watcher;

/// The formulas of a report: sums of weighted columns in reverse Polish
/// notation, `terms` terms each.
pub fn formulas(count: usize, terms: usize) -> Vec<String> {
    (0..count)
        .map(|f| {
            let mut source = format!("c{} {}.25 *", f % 8, f + 1);
            for t in 1..terms {
                source += &format!(" c{} {}.5 * +", (f + t) % 8, t);
            }
            source
        })
        .collect()
}

/// Totals of each formula over `rows`.
fn evaluate(engine: &Engine, formulas: &[String], rows: &[Vec<f64>]) -> Vec<f64> {
    formulas
        .iter()
        .map(|formula| rows.iter().map(|row| engine.eval(formula, row)).sum())
        .collect()
}

pub struct ReportService {
    watcher: Arc<Watcher>,
    formulas: Vec<String>,
    next_id: AtomicU64,
    /// With the fix: one engine for every call.
    shared: Option<OnceLock<Arc<Engine>>>,
}

impl ReportService {
    pub fn new(watcher: Arc<Watcher>, formulas: Vec<String>, fixed: bool) -> ReportService {
        ReportService {
            watcher,
            formulas,
            next_id: AtomicU64::new(1),
            shared: fixed.then(OnceLock::new),
        }
    }

    /// Renders a report: builds an engine for the call (unless fixed) and
    /// registers it for hot reload, which keeps it alive forever.
    pub fn render(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        let engine = match &self.shared {
            Some(shared) => Arc::clone(shared.get_or_init(|| self.new_engine())),
            None => self.new_engine(),
        };
        evaluate(&engine, &self.formulas, rows)
    }

    fn new_engine(&self) -> Arc<Engine> {
        let engine = Arc::new(Engine::new(self.next_id.fetch_add(1, Ordering::Relaxed)));
        self.watcher.register(&engine);
        engine
    }
}

/// Exports rows with one engine shared by every call: its cache fills once.
pub struct ExportService {
    engine: Arc<Engine>,
    formulas: Vec<String>,
}

impl ExportService {
    pub fn new(watcher: &Watcher, formulas: Vec<String>) -> ExportService {
        let engine = Arc::new(Engine::new(0));
        watcher.register(&engine);
        ExportService { engine, formulas }
    }

    pub fn export(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        evaluate(&self.engine, &self.formulas, rows)
    }
}
