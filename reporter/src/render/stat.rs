//! `heapsnap stat` lines: one per process per interval, in columns as
//! `jstat` and `vmstat` print them, or one JSON object per line.

use crate::format;
use crate::live::{Row, TagRow};

/// The column heads; `PID` first when several processes share the lines.
pub fn header(several: bool) -> String {
    let pid = if several { "     PID " } else { "" };
    format!(
        "{pid}{:>10} {:>11} {:>12} {:>12} {:>12} {:>11} {:>6} {:>9} {:>6}",
        "UPTIME", "LIVE", "LIVE Δ/s", "ALLOC/s", "FREED/s", "RSS", "LIMIT", "SAMPLES", "DUMPS"
    )
}

/// One row under [`header`].
pub fn line(row: &Row, several: bool) -> String {
    let pid = if several {
        format!("{:>8} ", row.pid)
    } else {
        String::new()
    };
    let limit = match row.memory_limit {
        0 => "-".to_owned(),
        limit => format!("{:.0}%", row.rss_bytes as f64 * 100.0 / limit as f64),
    };
    let rss = match row.rss_bytes {
        0 => "-".to_owned(),
        rss => format::bytes(rss),
    };
    let stale = if row.stale {
        "  (process gone: its last figures)"
    } else {
        ""
    };
    format!(
        "{pid}{:>10} {:>11} {:>12} {:>12} {:>12} {:>11} {:>6} {:>9} {:>6}{stale}",
        format::duration_ms(row.uptime_ms),
        format::bytes(row.live_bytes),
        per_sec(row.live_bytes_per_sec, true),
        per_sec(row.allocated_bytes_per_sec, false),
        per_sec(row.freed_bytes_per_sec, false),
        rss,
        limit,
        format::count(row.samples),
        row.dumps,
    )
}

/// A tag's line under its process's: the tag's name where the uptime is,
/// its live bytes, their change and its bytes allocated a second.
pub fn tag_line(tag: &TagRow, several: bool) -> String {
    let pid = if several { "         " } else { "" };
    let mut name: String = tag.name.chars().take(9).collect();
    if tag.name.chars().count() > 9 {
        name.pop();
        name.push('…');
    }
    format!(
        "{pid}{:>10} {:>11} {:>12} {:>12}",
        format!("·{name}"),
        format::bytes(tag.live_bytes),
        per_sec(tag.live_bytes_per_sec, true),
        per_sec(tag.allocated_bytes_per_sec, false),
    )
}

/// A byte rate: `1.2 MiB`, or `+1.2 MiB` with its sign.
fn per_sec(rate: f64, signed: bool) -> String {
    let bytes = rate.round() as i64;
    if signed {
        format::signed_bytes(bytes)
    } else {
        format::bytes(bytes.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_line_up_under_the_header() {
        let row = Row {
            pid: 4242,
            uptime_ms: 61_000,
            live_bytes: 130 << 20,
            live_bytes_per_sec: 5.5 * 1024.0 * 1024.0,
            allocated_bytes_per_sec: 80.0 * 1024.0 * 1024.0,
            freed_bytes_per_sec: 74.5 * 1024.0 * 1024.0,
            rss_bytes: 200 << 20,
            memory_limit: 400 << 20,
            samples: 12_345,
            samples_dropped: 0,
            dumps: 7,
            interval_bytes: 512 << 10,
            stale: false,
            tags: Vec::new(),
        };
        for several in [false, true] {
            let (head, text) = (header(several), line(&row, several));
            assert_eq!(head.chars().count(), text.chars().count(), "{head}\n{text}");
        }
        let text = line(&row, false);
        assert!(text.contains("+5.5 MiB"), "{text}");
        assert!(text.contains("50%"), "{text}");
        assert!(text.contains("12,345"), "{text}");
        let tag = TagRow {
            name: "a-long-tag-name".into(),
            live_bytes: 3 << 20,
            live_bytes_per_sec: 1024.0,
            allocated_bytes_per_sec: 2048.0,
        };
        let tag_text = tag_line(&tag, false);
        assert!(tag_text.contains("·a-long-t…"), "{tag_text}");
        // Its columns end where the process line's do.
        let head = header(false);
        let alloc_end = head.find("ALLOC/s").unwrap() + "ALLOC/s".len();
        assert_eq!(tag_text.chars().count(), head[..alloc_end].chars().count());
        let gone = line(&Row { stale: true, ..row }, false);
        assert!(gone.ends_with("(process gone: its last figures)"), "{gone}");
    }
}
