//! Load generators that measure a running ondes server.
//!
//! - [`fanout`]: many concurrent listeners on one runtime (`ondes bench fanout`).
//! - [`floor`]: the least a server can do to fan a stream out, measured beside ondes
//!   (`ondes bench floor`).
//! - [`proc_stats`]: CPU, RSS and socket-owner lookups from `/proc`.
//! - [`sse_scan`]: a lean incremental SSE scanner that reads only the metadata of audio events.
//! - [`http1`]: the minimal HTTP/1.1 client pieces the listeners need (URL, response head,
//!   chunked transfer decoding).
//! - [`histogram`]: a lock-free latency histogram shared by all listeners.

pub mod fanout;
pub mod floor;
pub mod histogram;
pub mod http1;
pub mod proc_stats;
pub mod sse_scan;

mod reader;
mod stats;

use std::time::Duration;

/// Errors of the load generators.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid duration {0:?}: expected e.g. 20s, 500ms, 2m or a number of seconds")]
    InvalidDuration(String),
    #[error("unknown transport {0:?} (supported: sse, http)")]
    UnknownTransport(String),
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{listeners} listeners need more open files than the limit allows ({limit}); \
         raise the hard limit (`ulimit -Hn`, /etc/security/limits.conf or LimitNOFILE=)"
    )]
    FileLimit { listeners: usize, limit: u64 },
}

/// Parses a human duration: `20s`, `500ms`, `2m`, `1h`, `1.5s`; a plain number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, BenchError> {
    let invalid = || BenchError::InvalidDuration(text.to_string());
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number = number.trim();
    // Only plain decimal numbers: `f64::from_str` would also accept "inf", "nan" and exponents.
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(invalid()),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units() {
        assert_eq!(parse_duration("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration(" 3 ").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("0.25").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("10 s").unwrap(), Duration::from_secs(10));
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in ["", "s", "ms", "-1s", "1x", "1.2.3s", "inf", "nan", "1e3", "5sec", "2 hours", "1s2"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
