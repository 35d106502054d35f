//! Sentences: a leak suspect as people read it, shared by the text and
//! Markdown reports and the `summary` of the JSON.

use crate::format;
use crate::leaks::{HolderEvidence, Note, RunSeen, Suspect};
use heapsnap_format::names;
use heapsnap_format::snapshot::ScanState;
use heapsnap_format::types::is_collection;

/// A suspect in one sentence: what holds how much, where it grows, how fast,
/// how old its bytes are, and how sure it keeps growing (or, below the
/// confidence a suspect needs, that it may have stopped).
pub fn suspect(s: &Suspect) -> String {
    let keeps_growing = s.keeps_growing;
    let place = match (&s.file, s.line, s.unknown) {
        (Some(file), Some(line), _) => format!(" ({file}:{line})"),
        (None, _, Some(why)) => format!(" ({})", why.describe()),
        _ => String::new(),
    };
    let function = names::short_function(&s.function);
    let size = format!(
        "{} ({} of heap)",
        format::bytes(s.live_bytes),
        format::percent(s.share)
    );
    let mut text = if is_collection(&s.type_full) {
        // A count whose error is half of it or more says nothing.
        let instances = match s.instances {
            0 | 1 => String::new(),
            n if s.instances_stddev * 2.0 >= n as f64 => String::new(),
            n => format!(", {} of them,", format::count_about(n, s.instances_stddev)),
        };
        format!(
            "{} grown in {function}{place}{instances} holds {size}",
            s.ty
        )
    } else {
        format!("{} allocated in {function}{place}: {size} live", s.ty)
    };
    // The rate it grows at now (over the later half, which the verdict
    // judged), or, if it may have stopped, the rate it grew at.
    let rate = |rate: f64, error: f64| {
        let (error, _) = format::rate(error, s.window_ms);
        format!(
            "{} ± {}",
            format::byte_rate(rate.max(0.0), s.window_ms),
            format::bytes(error.round() as u64)
        )
    };
    let window = format::duration_ms(s.window_ms);
    if keeps_growing && s.recent_window_ms < s.window_ms {
        text += &format!(
            ", growing {} over the last {} of {window}",
            rate(
                s.recent_growth_bytes_per_sec,
                s.recent_growth_bytes_per_sec_stddev
            ),
            format::duration_ms(s.recent_window_ms)
        );
    } else if keeps_growing {
        text += &format!(
            ", growing {} over {window}",
            rate(s.growth_bytes_per_sec, s.growth_bytes_per_sec_stddev)
        );
    } else {
        text += &format!(
            "; grew {} over {window}, but may have stopped",
            rate(s.growth_bytes_per_sec, s.growth_bytes_per_sec_stddev)
        );
    }
    text += &format!(
        "; in its later half {} new samples stayed and {} of {} died",
        format::count(s.late_born.samples.round() as u64),
        format::count(s.late_died.samples.round() as u64),
        format::count(s.population.round() as u64)
    );
    // Buffers that reached new sizes into the later half: the collection
    // itself keeps growing.
    if let [_, .., (at_ms, largest)] = s.buffer_highs[..]
        && at_ms * 2 >= s.window_ms
    {
        text += &format!(
            "; its buffers kept reaching new sizes, up to {} {} before the last snapshot",
            format::bytes(largest),
            format::duration_ms(s.window_ms.saturating_sub(at_ms))
        );
    }
    if let Some(age) = &s.age {
        text += &format!(
            "; {} of its live bytes are older than {}",
            format::percent(age.fraction),
            format::duration_ms(age.older_than_ms)
        );
    }
    text += &evidence(&s.holder_evidence);
    text += &format!(
        " ({} sure it keeps growing)",
        format::confidence(s.confidence)
    );
    text
}

/// Why the holder is named: the references seen, or what stands in for
/// them.
fn evidence(evidence: &HolderEvidence) -> String {
    match evidence {
        HolderEvidence::Pointers(p) => {
            let through = match (p.through_unsampled, p.followed < 0.995) {
                (false, _) => String::new(),
                (true, false) => ", through memory never sampled".into(),
                (true, true) => format!(
                    ", through memory never sampled (a sample: the scan followed {} of the \
                     ways there, so it reaches about {})",
                    format::percent(p.followed),
                    format::count((p.held as f64 / p.followed).min(p.of as f64).round() as u64)
                ),
            };
            let more = match p.members_reached {
                0 | 1 => String::new(),
                n => format!(" (and reaches {n} growing sites in all)"),
            };
            let population = if p.holder_share < 0.995 {
                format!(
                    " from the {} of its own blocks that were sampled",
                    format::percent(p.holder_share)
                )
            } else {
                String::new()
            };
            format!(
                "; it points at {} of the {} sampled {} allocated in {}{population}{through}{more}",
                format::count(p.held),
                format::count(p.of),
                p.ty,
                names::short_function(&p.function)
            )
        }
        // Without a heap graph every holder is read so; the report's
        // note says it once.
        HolderEvidence::Types { graph: false } => String::new(),
        HolderEvidence::Types { graph: true } => {
            "; its holding is read from its type and stack: no pointer between samples was seen"
                .into()
        }
        HolderEvidence::Guess { graph, points_out } => format!(
            "; its holding is a guess from where its parts were allocated: {}its type does not say what it holds",
            match (*graph, *points_out) {
                (false, _) => "",
                (true, false) => "no pointer was seen, and ",
                (true, true) => {
                    "no pointer to its parts was seen (its blocks point into the heap, some of \
                     its parts' never do), and "
                }
            }
        ),
    }
}

/// A note of the leak analysis, in words.
pub fn note(note: &Note) -> String {
    match note {
        Note::Runs {
            processes,
            analysed,
            left_out,
        } => {
            let list = |runs: &[RunSeen]| {
                runs.iter()
                    .map(|r| {
                        format!(
                            "pid {} started {} ({} snapshot{})",
                            r.pid,
                            format::timestamp(r.started_at_ms),
                            r.snapshots,
                            if r.snapshots == 1 { "" } else { "s" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut text = format!("snapshots of {processes} processes given");
            if analysed.len() > 1 {
                text += &format!(
                    "; each run with two snapshots or more is analysed, newest first: {}",
                    list(analysed)
                );
            } else {
                text += &format!("; analysed: {}", list(analysed));
            }
            if !left_out.is_empty() {
                text += &format!("; left out: {}", list(left_out));
            }
            text + " (--pid picks one)"
        }
        Note::Teardown {
            left_out,
            first,
            trigger,
            survived,
            live_at_turn,
            live_at_last,
        } => format!(
            "{left_out} snapshot{} from {first} on ({trigger}) look taken during teardown: {} of the old memory at the heap's turn survived to the last (the live heap fell from {} to {}); judged without them",
            if *left_out == 1 { "" } else { "s" },
            format::percent(*survived),
            format::bytes(*live_at_turn),
            format::bytes(*live_at_last)
        ),
        Note::Idle {
            left_out,
            first,
            trigger,
            serving_rate,
            idle_rate,
            live_at_turn,
            live_at_last,
        } => format!(
            "{left_out} snapshot{} from {first} on ({trigger}) look taken after the program stopped serving: it allocated {}/s before and {}/s after, while the live heap fell from {} to {}; judged without them",
            if *left_out == 1 { "" } else { "s" },
            format::bytes(*serving_rate as u64),
            format::bytes(*idle_rate as u64),
            format::bytes(*live_at_turn),
            format::bytes(*live_at_last)
        ),
        Note::WithoutAges {
            left_out,
            first,
            trigger,
        } => format!(
            "{left_out} snapshot{} from {first} ({trigger}) carr{} no ages (written reduced, to fit near the memory limit, or when memory ran out): judged without {}; `top` and `diff` read {}",
            if *left_out == 1 { "" } else { "s" },
            if *left_out == 1 { "ies" } else { "y" },
            if *left_out == 1 { "it" } else { "them" },
            if *left_out == 1 { "it" } else { "them" },
        ),
        Note::TwoSnapshots => "2 snapshots: growth is judged over the whole window, and whether it stopped only from when the survivors were born; take more to judge the later half alone".to_owned(),
        Note::NoHeapGraph { scan } => format!(
            "{}: holders are read from types and stacks",
            match scan {
                None => "the snapshots carry no heap graph (written before format version 3)",
                Some(ScanState::Off) => "the heap scan was off (HEAPSNAP_SCAN=off), so the snapshots carry no heap graph",
                Some(ScanState::Refused) => "the kernel refused the heap scan's reads of the process's memory (a seccomp profile without process_vm_readv, and no /proc/self/mem), so the snapshots carry no heap graph",
                Some(ScanState::Unsupported) => "the heap scan runs on Linux only, so the snapshots carry no heap graph",
                Some(_) => "the snapshots judged were not scanned (out-of-memory dumps, or exact recordings of a test scope), so they carry no heap graph",
            }
        ),
        Note::ScanOutOfTime { stopped, scanned } => format!(
            "the heap scan stopped at its time limit in {stopped} of the {scanned} snapshots judged (a busy machine, or an unoptimised build of the profiler): pointers past where it stopped were not seen, and holders without them are read from types and stacks"
        ),
        Note::SitesMerged { samples } => format!(
            "{samples} samples of new stacks came after the profiler's site table was full (HEAPSNAP_MAX_SITES): they are in one site per tag, without a stack"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaks::Pointers;

    /// Without a graph the note says why, in the user's terms: the
    /// setting that turned the scan off, the kernel's refusal, an old file.
    #[test]
    fn no_heap_graph_says_why() {
        let says = |scan| note(&Note::NoHeapGraph { scan });
        assert!(says(Some(ScanState::Off)).contains("HEAPSNAP_SCAN=off"));
        assert!(says(Some(ScanState::Refused)).contains("seccomp"));
        assert!(says(None).contains("before format version 3"));
        assert!(says(Some(ScanState::Skipped)).contains("were not scanned"));
        let stopped = note(&Note::ScanOutOfTime {
            stopped: 2,
            scanned: 5,
        });
        assert!(stopped.contains("in 2 of the 5 snapshots"), "{stopped}");
    }

    /// Evidence found through a thinned scan says it is a sample, and what
    /// it stands for; evidence followed all the way says only what it saw.
    #[test]
    fn evidence_from_a_thinned_scan_says_it_is_a_sample() {
        let seen = Pointers {
            ty: "Vec<u8>".into(),
            function: "app::Conn::new".into(),
            held: 40,
            of: 150,
            through_unsampled: true,
            followed: 0.4,
            members_reached: 1,
            holder_share: 1.0,
        };
        let thinned = evidence(&HolderEvidence::Pointers(seen.clone()));
        assert!(thinned.contains("points at 40 of the 150"), "{thinned}");
        assert!(thinned.contains("followed 40.0% of the ways"), "{thinned}");
        assert!(thinned.contains("reaches about 100"), "{thinned}");
        let whole = evidence(&HolderEvidence::Pointers(Pointers {
            followed: 1.0,
            ..seen.clone()
        }));
        assert!(whole.ends_with("through memory never sampled"), "{whole}");
        // A population of holders says what share of it was read.
        let tasks = evidence(&HolderEvidence::Pointers(Pointers {
            followed: 1.0,
            holder_share: 0.012,
            ..seen
        }));
        assert!(
            tasks.contains("from the 1.2% of its own blocks that were sampled"),
            "{tasks}"
        );
    }

    /// A guess says when the scan saw the holder, and not all its parts,
    /// point into the heap.
    #[test]
    fn a_guess_says_when_only_the_holder_points_into_the_heap() {
        let guess = |points_out| {
            evidence(&HolderEvidence::Guess {
                graph: true,
                points_out,
            })
        };
        assert!(guess(true).contains("its blocks point into the heap"));
        assert!(guess(false).contains("no pointer was seen"));
    }
}
