//! Parsing of the human units used in profiles, scripts and CLI flags:
//! bit rates (`64kbps`, `1.5mbit`, `200k`), times (`50ms`, `2s`, `500us`; a bare number is
//! ms), percentages (`1%`, or a fraction `0.01`) and sizes (`32kb`, `3000b`).

use super::NetmodelError;

fn split_number(s: &str) -> Option<(f64, String)> {
    let s = s.trim();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let n: f64 = s[..end].parse().ok()?;
    (n.is_finite() && n >= 0.0).then(|| (n, s[end..].trim().to_ascii_lowercase()))
}

fn bad(key: &str, value: &str, expected: &'static str) -> NetmodelError {
    NetmodelError::BadValue { key: key.to_string(), value: value.to_string(), expected }
}

/// Bits per second; `None` for `unlimited`/`inf`. Units are decimal (1 kbit = 1000 bit).
pub fn parse_rate(key: &str, value: &str) -> Result<Option<u64>, NetmodelError> {
    const EXPECTED: &str = "a bit rate such as 64kbps, 1mbps, 200k or unlimited";
    if matches!(value.trim().to_ascii_lowercase().as_str(), "unlimited" | "inf" | "none") {
        return Ok(None);
    }
    let (n, unit) = split_number(value).ok_or_else(|| bad(key, value, EXPECTED))?;
    let unit = unit.trim_end_matches("/s").trim_end_matches("ps").trim_end_matches("it");
    let mult = match unit {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        _ => return Err(bad(key, value, EXPECTED)),
    };
    Ok(Some((n * mult).round() as u64))
}

/// Microseconds; a bare number is milliseconds.
pub fn parse_time_us(key: &str, value: &str) -> Result<u64, NetmodelError> {
    const EXPECTED: &str = "a time such as 50ms, 2s, 500us or 1m";
    let (n, unit) = split_number(value).ok_or_else(|| bad(key, value, EXPECTED))?;
    let mult = match unit.as_str() {
        "us" | "µs" => 1.0,
        "" | "ms" => 1e3,
        "s" | "sec" => 1e6,
        "m" | "min" => 60e6,
        _ => return Err(bad(key, value, EXPECTED)),
    };
    Ok((n * mult).round() as u64)
}

/// A probability in [0, 1] from `1%` or `0.01`.
pub fn parse_fraction(key: &str, value: &str) -> Result<f64, NetmodelError> {
    const EXPECTED: &str = "a percentage such as 1% or a fraction such as 0.01";
    let (n, unit) = split_number(value).ok_or_else(|| bad(key, value, EXPECTED))?;
    let p = match unit.as_str() {
        "%" => n / 100.0,
        "" => n,
        _ => return Err(bad(key, value, EXPECTED)),
    };
    if p > 1.0 {
        return Err(bad(key, value, EXPECTED));
    }
    Ok(p)
}

/// A plain non-negative number (e.g. a burst length in packets).
pub fn parse_number(key: &str, value: &str) -> Result<f64, NetmodelError> {
    match split_number(value) {
        Some((n, unit)) if unit.is_empty() => Ok(n),
        _ => Err(bad(key, value, "a number")),
    }
}

/// Bytes from `32kb`, `1500b`, `64kib` (decimal k unless `kib`).
pub fn parse_bytes(key: &str, value: &str) -> Result<u64, NetmodelError> {
    const EXPECTED: &str = "a size such as 32kb or 3000b";
    let (n, unit) = split_number(value).ok_or_else(|| bad(key, value, EXPECTED))?;
    let mult = match unit.as_str() {
        "b" | "bytes" => 1.0,
        "kb" => 1e3,
        "kib" => 1024.0,
        "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        _ => return Err(bad(key, value, EXPECTED)),
    };
    Ok((n * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_rate("bw", "64kbps").unwrap(), Some(64_000));
        assert_eq!(parse_rate("bw", "1.5Mbit/s").unwrap(), Some(1_500_000));
        assert_eq!(parse_rate("bw", "200k").unwrap(), Some(200_000));
        assert_eq!(parse_rate("bw", "unlimited").unwrap(), None);
        assert!(parse_rate("bw", "fast").is_err());
        assert_eq!(parse_time_us("delay", "50ms").unwrap(), 50_000);
        assert_eq!(parse_time_us("delay", "2s").unwrap(), 2_000_000);
        assert_eq!(parse_time_us("delay", "20").unwrap(), 20_000);
        assert_eq!(parse_time_us("delay", "500us").unwrap(), 500);
        assert!(parse_time_us("delay", "-5ms").is_err());
        assert!((parse_fraction("loss", "1%").unwrap() - 0.01).abs() < 1e-12);
        assert!((parse_fraction("loss", "0.05").unwrap() - 0.05).abs() < 1e-12);
        assert!(parse_fraction("loss", "150%").is_err());
        assert_eq!(parse_bytes("queue", "32kb").unwrap(), 32_000);
        assert!(parse_bytes("queue", "32").is_err());
    }
}
