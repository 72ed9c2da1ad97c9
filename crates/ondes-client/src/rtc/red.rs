//! RED (RFC 2198) on the receiving side: which frames str0m rebuilt from a later packet's
//! redundancy, and the capture time they lost on the way.
//!
//! str0m does the recovery itself once RED is negotiated: when a packet arrives carrying an
//! earlier frame that never came, it hands that frame out as media data too, right after
//! the packet's own (the receiver holds nothing back for order: the listener's jitter buffer
//! places frames by number). It does not flag it, but it
//! strips the rebuilt frame of every RTP header extension (a redundant block has none of
//! its own), while every packet str0m sends carries at least the `mid` extension, and every
//! ondes packet `abs-capture-time`. So a frame without any extension on a session with RED
//! is a recovered one. Its capture time follows from the last stamped frame: frames are
//! captured one frame duration apart.

/// Tells recovered frames apart and dates them.
#[derive(Debug, Default, Clone)]
pub struct RedRecovery {
    /// Frames rebuilt from RED.
    pub recovered: u64,
    /// `(frame number, capture µs)` of the last frame that carried its capture time.
    last_stamped: Option<(u64, i64)>,
}

impl RedRecovery {
    /// Takes frame `seq` (of `frame_us`) with its own capture time, if any; `recovered`:
    /// str0m rebuilt it from RED. Returns the capture time to use: its own, or for a
    /// recovered frame the last stamped one's moved on by the frames between.
    pub fn frame(
        &mut self,
        seq: u64,
        frame_us: u32,
        capture_us: Option<i64>,
        recovered: bool,
    ) -> Option<i64> {
        if recovered {
            self.recovered += 1;
            // a frame before the last stamped one (the usual case: it came inside a later
            // packet) is dated backwards from it
            return self.last_stamped.map(|(s, c)| c + (seq as i64 - s as i64) * i64::from(frame_us));
        }
        if let Some(c) = capture_us {
            self.last_stamped = Some((seq, c));
        }
        capture_us
    }
}

/// Whether str0m rebuilt this media data from RED redundancy (see the module's doc).
pub fn is_recovered(d: &str0m::media::MediaData) -> bool {
    d.params.red().is_some() && d.ext_vals == str0m::rtp::ExtensionValues::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovered_frames_are_counted_and_dated_from_the_last_stamped_one() {
        let mut r = RedRecovery::default();
        // nothing stamped yet: a recovered frame has no capture time
        assert_eq!(r.frame(9, 20_000, None, true), None);
        assert_eq!(r.frame(10, 20_000, Some(1_000_000), false), Some(1_000_000));
        // 11 and 12 lost, rebuilt from 13's two levels (delivered right after it)
        assert_eq!(r.frame(13, 20_000, Some(1_060_500), false), Some(1_060_500));
        assert_eq!(r.frame(11, 20_000, None, true), Some(1_020_500));
        assert_eq!(r.frame(12, 20_000, None, true), Some(1_040_500));
        assert_eq!(r.recovered, 3);
        // a frame of a server that sends no capture time stays without
        assert_eq!(r.frame(14, 20_000, None, false), None);
        assert_eq!(r.recovered, 3);
    }
}
