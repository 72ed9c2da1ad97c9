//! Fault injection for the publisher: drop a fraction of the frames before they are sent,
//! so that diagnosis tools (`ondes probe --sender-log`) can be checked against a sender
//! whose own code loses frames. Deterministic for a seed.

/// Decides, frame by frame, whether to drop it (probability `p`, seeded splitmix64).
#[derive(Debug, Clone)]
pub struct DropBeforeSend {
    p: f64,
    state: u64,
}

impl DropBeforeSend {
    pub fn new(p: f64, seed: u64) -> Self {
        DropBeforeSend { p: p.clamp(0.0, 1.0), state: seed }
    }

    /// Whether the next frame is dropped.
    pub fn drop_next(&mut self) -> bool {
        if self.p <= 0.0 {
            return false;
        }
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < self.p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_about_the_fraction_asked_and_none_at_zero() {
        let mut d = DropBeforeSend::new(0.2, 7);
        let n = (0..10_000).filter(|_| d.drop_next()).count();
        assert!((1_800..2_200).contains(&n), "{n}");
        let mut none = DropBeforeSend::new(0.0, 7);
        assert!(!(0..1000).any(|_| none.drop_next()));
    }
}
