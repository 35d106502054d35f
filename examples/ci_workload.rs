//! A batch job for heap regression gates in CI: it loads records, indexes
//! them, builds a report, and writes a heap snapshot at the end. With
//! `--regression`, `remember_processed` also keeps a copy of every record it
//! processed, the kind of change a pull request slips in.
//!
//! ```text
//! HEAPSNAP_SAMPLE_INTERVAL=1 cargo run --release --example ci_workload -- base.json
//! HEAPSNAP_SAMPLE_INTERVAL=1 cargo run --release --example ci_workload -- new.json --regression
//! heapsnap diff base.json new.json --fail-on-growth 1MiB
//! ```

use std::collections::{BTreeMap, HashMap};

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// One input record.
#[derive(Clone, Debug)]
pub struct Record {
    id: u64,
    customer: String,
    amount_cents: i64,
    tags: [u32; 6],
}

/// What the job keeps.
#[derive(Default)]
struct Job {
    by_id: HashMap<u64, Record>,
    totals: BTreeMap<String, i64>,
    report: Vec<String>,
    processed: Vec<Record>,
}

fn record(id: u64) -> Record {
    Record {
        id,
        customer: format!("customer-{:05}", id % 20_000),
        amount_cents: (id as i64 * 7919) % 100_000,
        tags: [id as u32; 6],
    }
}

#[inline(never)]
fn load(job: &mut Job, n: u64) {
    for id in 0..n {
        job.by_id.insert(id, record(id));
    }
}

#[inline(never)]
fn aggregate(job: &mut Job) {
    for record in job.by_id.values() {
        *job.totals.entry(record.customer.clone()).or_default() += record.amount_cents;
    }
}

#[inline(never)]
fn build_report(job: &mut Job) {
    for (customer, total) in &job.totals {
        job.report
            .push(format!("{customer}: {}.{:02}", total / 100, total % 100));
    }
}

/// The regression: a copy of every processed record, never released.
#[inline(never)]
fn remember_processed(job: &mut Job) {
    let mut ids: Vec<&u64> = job.by_id.keys().collect();
    ids.sort();
    for id in ids {
        job.processed.push(job.by_id[id].clone());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return Err("usage: ci_workload SNAPSHOT [--regression]".into());
    };
    let regression = args.iter().any(|a| a == "--regression");
    let mut job = Job::default();
    load(&mut job, 100_000);
    aggregate(&mut job);
    build_report(&mut job);
    if regression {
        remember_processed(&mut job);
    }
    heapsnap::snapshot().write_to_path(path)?;
    let checksum: i64 = job.totals.values().sum::<i64>()
        + job.processed.iter().map(|r| r.amount_cents).sum::<i64>();
    println!(
        "{} records, {} customers, report of {} lines, checksum {checksum}",
        job.by_id.len(),
        job.totals.len(),
        job.report.len()
    );
    assert!(job.by_id.values().all(|r| r.tags[0] == r.id as u32));
    Ok(())
}
