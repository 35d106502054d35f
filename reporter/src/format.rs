//! Numbers, sizes, times and paths as people read them.

/// `0 B`, `512 B`, `1.5 KiB`, `45.4 MiB`, `1.25 GiB`.
pub fn bytes(n: u64) -> String {
    heapsnap_format::units::format_bytes(n)
}

/// A byte change with its sign: `+1.5 MiB`, `-512 B`, `0 B`.
pub fn signed_bytes(n: i64) -> String {
    signed(n, bytes)
}

/// `n` written by `unsigned`, with `+` or `-` in front unless it is zero.
fn signed(n: i64, unsigned: fn(u64) -> String) -> String {
    let sign = match n {
        0 => "",
        1.. => "+",
        _ => "-",
    };
    format!("{sign}{}", unsigned(n.unsigned_abs()))
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A signed count: `+1,200`, `-3`, `0`.
pub fn signed_count(n: i64) -> String {
    signed(n, count)
}

/// A count and its standard error, to two significant digits:
/// `50,400 ±12,000`; the count alone when the error rounds to nothing
/// (exact snapshots).
pub fn count_about(n: u64, stddev: f64) -> String {
    about(count(n), stddev)
}

/// A signed count and its standard error: `+96,592 ±60,000`.
pub fn signed_count_about(n: i64, stddev: f64) -> String {
    about(signed_count(n), stddev)
}

fn about(value: String, stddev: f64) -> String {
    // NaN as well as nothing.
    if stddev.is_nan() || stddev < 0.5 {
        return value;
    }
    let magnitude = 10f64.powi(stddev.log10().floor() as i32 - 1).max(1.0);
    let error = ((stddev / magnitude).round() * magnitude) as u64;
    format!("{value} ±{}", count(error))
}

/// A share as a percentage: `61.7%`, `0.4%`, `<0.1%`.
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p > 0.0 && p < 0.05 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

/// A change as a percentage of its base: `+24.0%`, `-3.5%`, `new`.
pub fn signed_percent(delta: i64, base: u64) -> String {
    if base == 0 {
        return if delta == 0 {
            "0%".into()
        } else {
            "new".into()
        };
    }
    format!("{:+.1}%", delta as f64 * 100.0 / base as f64)
}

/// A rate in the unit that reads best for the window.
pub(crate) fn rate(bytes_per_sec: f64, window_ms: u64) -> (f64, &'static str) {
    match window_ms {
        0..120_000 => (bytes_per_sec, "s"),
        120_000..7_200_000 => (bytes_per_sec * 60.0, "min"),
        _ => (bytes_per_sec * 3600.0, "h"),
    }
}

/// A byte rate in the unit that reads best for the window: `4.8 MiB/s`,
/// `-120.0 KiB/min`.
pub(crate) fn byte_rate(bytes_per_sec: f64, window_ms: u64) -> String {
    let (rate, unit) = rate(bytes_per_sec, window_ms);
    let sign = if rate < 0.0 { "-" } else { "" };
    format!("{sign}{}/{unit}", bytes(rate.abs().round() as u64))
}

/// A confidence for people: never "100%" (`>99.9%`).
pub(crate) fn confidence(p: f64) -> String {
    if p > 0.999 {
        ">99.9%".into()
    } else {
        percent(p)
    }
}

/// A duration in milliseconds: `72 ms`, `4.2 s`, `2 min 10 s`, `2 h 10 min`, `3 d 4 h`.
pub fn duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A duration in microseconds: `850 µs`, then as [`duration_ms`].
pub fn micros(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else {
        duration_ms(us / 1000)
    }
}

/// Milliseconds since the Unix epoch as `2026-11-22 02:43:53 UTC`.
pub fn timestamp(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_in_the_unit_of_the_window() {
        assert_eq!(rate(1024.0, 60_000), (1024.0, "s"));
        assert_eq!(rate(1024.0, 600_000), (61_440.0, "min"));
        assert_eq!(rate(1.0, 86_400_000), (3600.0, "h"));
        assert_eq!(confidence(0.9999), ">99.9%");
        assert_eq!(confidence(0.95), "95.0%");
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(47_600_000), "45.4 MiB");
        assert_eq!(bytes(3 << 30), "3.00 GiB");
        assert_eq!(signed_bytes(-2048), "-2.0 KiB");
        assert_eq!(signed_bytes(5 << 20), "+5.0 MiB");
    }

    #[test]
    fn counts_and_percentages() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(signed_count(-1000), "-1,000");
        assert_eq!(count_about(50_400, 0.0), "50,400");
        assert_eq!(count_about(50_400, 12_345.0), "50,400 ±12,000");
        assert_eq!(count_about(7, 2.4), "7 ±2");
        assert_eq!(signed_count_about(96_592, 61_234.5), "+96,592 ±61,000");
        assert_eq!(percent(0.617), "61.7%");
        assert_eq!(percent(0.0001), "<0.1%");
        assert_eq!(signed_percent(24, 100), "+24.0%");
        assert_eq!(signed_percent(5, 0), "new");
    }

    #[test]
    fn times() {
        assert_eq!(duration_ms(72), "72 ms");
        assert_eq!(duration_ms(4_200), "4.2 s");
        assert_eq!(duration_ms(130_000), "2 min 10 s");
        assert_eq!(duration_ms(7_800_000), "2 h 10 min");
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(timestamp(1_795_315_433_358), "2026-11-22 02:43:53 UTC");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
