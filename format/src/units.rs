//! Sizes, durations and fractions as people write them (`512KiB`, `60s`,
//! `90%`), shared by the environment variables and the reporter's flags.
//!
//! Parsing never allocates: the allocator reads its configuration from the
//! environment before it may allocate.

use std::fmt;
use std::time::Duration;

/// Why a size, duration or fraction could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitError(&'static str);

impl UnitError {
    /// What was wrong, in a few words.
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for UnitError {}

/// Splits `"512 KiB"` into `(512.0, "KiB")`.
fn split_number(text: &str) -> Result<(f64, &str), UnitError> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    if number.is_empty() {
        return Err(UnitError("expected a number"));
    }
    let mut digits = [0u8; 40];
    let mut len = 0;
    for b in number.bytes().filter(|&b| b != b'_') {
        if len == digits.len() {
            return Err(UnitError("number is too long"));
        }
        digits[len] = b;
        len += 1;
    }
    let number = std::str::from_utf8(&digits[..len])
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or(UnitError("not a number"))?;
    Ok((number, unit.trim()))
}

const KIB: f64 = 1024.0;

/// Size units, all powers of 1024, matched without regard to case.
const SIZE_UNITS: &[(&str, f64)] = &[
    ("", 1.0),
    ("b", 1.0),
    ("k", KIB),
    ("kb", KIB),
    ("kib", KIB),
    ("m", KIB * KIB),
    ("mb", KIB * KIB),
    ("mib", KIB * KIB),
    ("g", KIB * KIB * KIB),
    ("gb", KIB * KIB * KIB),
    ("gib", KIB * KIB * KIB),
    ("t", KIB * KIB * KIB * KIB),
    ("tb", KIB * KIB * KIB * KIB),
    ("tib", KIB * KIB * KIB * KIB),
];

/// Duration units, in seconds.
const DURATION_UNITS: &[(&str, f64)] = &[
    ("ms", 0.001),
    ("", 1.0),
    ("s", 1.0),
    ("sec", 1.0),
    ("m", 60.0),
    ("min", 60.0),
    ("h", 3600.0),
    ("d", 86400.0),
];

fn scale_of(unit: &str, table: &[(&str, f64)]) -> Option<f64> {
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .map(|&(_, scale)| scale)
}

/// Reads a byte size: a plain number of bytes or a number with a unit
/// (`B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB`, `T`/`TB`/`TiB`;
/// all units are powers of 1024, case-insensitive). `1.5MiB` is allowed.
pub fn parse_bytes(text: &str) -> Result<u64, UnitError> {
    let (number, unit) = split_number(text)?;
    let scale = scale_of(unit, SIZE_UNITS)
        .ok_or(UnitError("unknown size unit (use B, KiB, MiB, GiB or TiB)"))?;
    let bytes = number * scale;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(UnitError("size is too large"));
    }
    Ok(bytes.round() as u64)
}

/// The largest sampling interval: one sample per TiB allocated already
/// says nothing about most heaps, and every reader accepts it.
pub const MAX_SAMPLE_INTERVAL: u64 = 1 << 40;

/// Reads a sampling interval: a byte size from 1 byte to
/// [`MAX_SAMPLE_INTERVAL`], or `0` (sampling off). A size that rounds to
/// no bytes (`0.4`) is an error, not a way to turn sampling off.
pub fn parse_interval(text: &str) -> Result<u64, UnitError> {
    let bytes = parse_bytes(text)?;
    let (number, _) = split_number(text)?;
    if bytes == 0 && number != 0.0 {
        return Err(UnitError(
            "less than one byte (1 records every allocation, 0 turns sampling off)",
        ));
    }
    if bytes > MAX_SAMPLE_INTERVAL {
        return Err(UnitError("more than 1 TiB"));
    }
    Ok(bytes)
}

/// Reads a duration: a number with `ms`, `s`, `m`/`min`, `h` or `d`; a plain
/// number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let (number, unit) = split_number(text)?;
    let scale = scale_of(unit, DURATION_UNITS)
        .ok_or(UnitError("unknown duration unit (use ms, s, min, h or d)"))?;
    Duration::try_from_secs_f64(number * scale).map_err(|_| UnitError("duration is out of range"))
}

/// Reads a fraction written as a percentage (`20%`) or as a plain fraction
/// (`0.2`). Returns the fraction (0.2 for both).
pub fn parse_fraction(text: &str) -> Result<f64, UnitError> {
    let (number, unit) = split_number(text)?;
    match unit {
        "%" => Ok(number / 100.0),
        "" => Ok(number),
        _ => Err(UnitError("expected a percentage such as 20%")),
    }
}

/// Reads a percentage, with or without its `%` (`99`, `99.5%`). Returns
/// the number of percent (99.5).
pub fn parse_percent(text: &str) -> Result<f64, UnitError> {
    let text = text.trim();
    let (number, unit) = split_number(text.strip_suffix('%').unwrap_or(text))?;
    if !unit.is_empty() {
        return Err(UnitError("expected a percentage such as 99%"));
    }
    Ok(number)
}

/// Bytes for people, in binary units: `512 B`, `1.5 KiB`, `2.25 GiB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit >= 2 {
        format!("{value:.2} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_sizes_from_a_byte_to_a_tebibyte_or_zero() {
        assert_eq!(parse_interval("512KiB"), Ok(512 << 10));
        assert_eq!(parse_interval("1"), Ok(1));
        assert_eq!(parse_interval("0"), Ok(0));
        assert_eq!(parse_interval("1TiB"), Ok(MAX_SAMPLE_INTERVAL));
        assert!(parse_interval("0.4").is_err(), "rounds to 0: not 'off'");
        assert!(parse_interval("1048576TiB").is_err());
        assert!(parse_interval("1.1TiB").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_bytes("512 kib"), Ok(512 * 1024));
        assert_eq!(parse_bytes("64k"), Ok(64 * 1024));
        assert_eq!(parse_bytes("5MiB"), Ok(5 << 20));
        assert_eq!(parse_bytes("1.5M"), Ok(3 << 19));
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1_000"), Ok(1000));
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("MiB").is_err());
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("-5").is_err());
        assert!(parse_bytes("99999999999999999999TiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5min"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("5 fortnights").is_err());
    }

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("20%"), Ok(0.2));
        assert_eq!(parse_fraction("0.9"), Ok(0.9));
        assert_eq!(parse_fraction("90 %"), Ok(0.9));
        assert!(parse_fraction("20x").is_err());
        assert_eq!(parse_percent("99"), Ok(99.0));
        assert_eq!(parse_percent("99.5%"), Ok(99.5));
        assert!(parse_percent("99x").is_err());
        assert!(parse_percent("%").is_err());
    }
}
