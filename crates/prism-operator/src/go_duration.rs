//! Go-style durations as the CRDs accept them (`10s`, `1h30m`, `1.5s`, `720h`): the
//! `DURATION_PATTERN` of prism-api, parsed into [`std::time::Duration`]. Pure; no defaults here.

use std::time::Duration;

/// Why a duration string could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?} (expected e.g. 10s, 1h30m, 500ms)")]
pub struct InvalidDuration(pub String);

/// Parses a Go duration: one or more `<number><unit>` terms, units ns, us, µs, ms, s, m, h.
pub fn parse(text: &str) -> Result<Duration, InvalidDuration> {
    let invalid = || InvalidDuration(text.to_owned());
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let number: f64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total += number * nanos_per_unit;
    }
    // Anything beyond ~292 years is a typo, not a duration.
    if !total.is_finite() || total > 9.2e18 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Parses `text` when given, else returns `default`.
pub fn parse_or(text: Option<&str>, default: Duration) -> Result<Duration, InvalidDuration> {
    text.map_or(Ok(default), parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("720h"), Ok(Duration::from_secs(720 * 3600)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2µs"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_or(None, Duration::from_secs(7)), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "10", "s", "10x", "1h-5m", "1..5s", "99999999999999h"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
