//! Per-request garbage: a JSON body parsed with `serde_json` and a reply
//! buffer, freed when the request ends.

use super::{Kept, Run, text};

#[inline(never)]
fn handle_request(id: u64) -> usize {
    let body = format!(
        r#"{{"user":"{}","items":[1,2,3,{id}],"note":"{}"}}"#,
        text(id, 12),
        text(id ^ 3, 200)
    );
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let reply = serde_json::to_vec(&parsed).unwrap_or_default();
    reply.len()
}

pub fn run(run: &Run, bytes_per_sec: f64) -> Kept {
    run.paced(bytes_per_sec / 1200.0, |id| {
        std::hint::black_box(handle_request(id));
    });
    Box::new(())
}
