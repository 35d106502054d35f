//! Sentences: a leak suspect as people read it, shared by the text and
//! Markdown reports and the `summary` of the JSON.

use crate::format;
use crate::leaks::Suspect;
use crate::trend::MIN_POINTS_FOR_TREND;
use heapsnap_format::names;
use heapsnap_format::types::is_collection;

/// A suspect in one sentence: what holds how much, where it grows, how fast,
/// how old its bytes are, and how sure it keeps growing (or, below the
/// confidence a suspect needs, that it may have stopped).
pub fn suspect(s: &Suspect) -> String {
    let keeps_growing = s.keeps_growing;
    let (error, _) = format::rate(s.growth_bytes_per_sec_stddev, s.window_ms);
    let place = match (&s.file, s.line) {
        (Some(file), Some(line)) => format!(" ({file}:{line})"),
        _ => String::new(),
    };
    let function = names::short_function(&s.function);
    let size = format!(
        "{} ({} of heap)",
        format::bytes(s.live_bytes),
        format::percent(s.share)
    );
    let mut text = if is_collection(&s.type_full) {
        let instances = match s.instances {
            0 | 1 => String::new(),
            n => format!(", {} of them,", format::count(n)),
        };
        format!(
            "{} grown in {function}{place}{instances} holds {size}",
            s.ty
        )
    } else {
        format!("{} allocated in {function}{place}: {size} live", s.ty)
    };
    let rate = format!(
        "{} ± {}",
        format::byte_rate(s.growth_bytes_per_sec.max(0.0), s.window_ms),
        format::bytes(error.round() as u64)
    );
    let window = format::duration_ms(s.window_ms);
    if s.points < MIN_POINTS_FOR_TREND {
        text += &format!(
            "; grew {} from the first snapshot to the last, {window} apart ({rate}), a two-point growth: whether it keeps growing cannot be told",
            format::signed_bytes(s.growth_bytes)
        );
    } else if keeps_growing {
        text += &format!(", growing {rate} for the whole {window}");
    } else {
        text += &format!("; grew {rate} over {window}, but may have stopped");
    }
    if let Some(age) = &s.age {
        text += &format!(
            "; {} of its live bytes are older than {}",
            format::percent(age.fraction),
            format::duration_ms(age.older_than_ms)
        );
    }
    let claim = if s.points < MIN_POINTS_FOR_TREND {
        "it grew"
    } else {
        "it keeps growing"
    };
    text += &format!(" ({} sure {claim})", format::confidence(s.confidence));
    text
}
