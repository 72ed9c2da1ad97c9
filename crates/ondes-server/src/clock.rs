//! The wall clock, read in one place.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    // a clock before 1970 is a broken machine; 0 keeps the arithmetic sane
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Where stream numbering starts: 2000-01-01T00:00:00Z, in µs since the Unix epoch.
///
/// Every stream numbers its frames from the wall clock (see [`stream_start_seq`]). The
/// origin of that numbering is not 1970 because a DASH manifest says when media time 0 was
/// (`availabilityStartTime`), and ffmpeg's DASH reader takes a time within the first second
/// of 1970 for "no time given" and then asks for segments 13 hours ahead.
pub const NUMBERING_EPOCH_US: i64 = 946_684_800_000_000;

/// The sequence number a stream's first frame gets: frames of `frame_us` since
/// [`NUMBERING_EPOCH_US`]. A server restarted with the same configuration (or a standby
/// origin taking a stream over) therefore goes on past every number the one before used:
/// a listener resuming with its last sequence is told exactly how much it missed, never
/// handed other audio under the numbers it already had.
pub fn stream_start_seq(now_us: i64, frame_us: u32) -> u64 {
    (now_us.saturating_sub(NUMBERING_EPOCH_US).max(0) as u64) / u64::from(frame_us.max(1))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    now_us() / 1000
}

/// (year, month, day, hour, minute, second, weekday 0 = Sunday) of a Unix time, UTC.
pub fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32, usize) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's days-from-civil inverse
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let weekday = (days + 4).rem_euclid(7) as usize;
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60, weekday)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_starts_in_2000_and_goes_on_across_restarts() {
        assert_eq!(civil(NUMBERING_EPOCH_US / 1_000_000).0, 2000);
        assert_eq!(stream_start_seq(NUMBERING_EPOCH_US, 20_000), 0);
        assert_eq!(stream_start_seq(0, 20_000), 0, "a clock before the epoch starts at 0");
        // a server started 1.5 s after another numbers 75 frames of 20 ms further on
        let t = NUMBERING_EPOCH_US + 900_000_000_000_000;
        assert_eq!(stream_start_seq(t + 1_500_000, 20_000) - stream_start_seq(t, 20_000), 75);
        assert_eq!(stream_start_seq(t, 10_000), 2 * stream_start_seq(t, 20_000));
    }
}
