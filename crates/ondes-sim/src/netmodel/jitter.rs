//! Delay variation: the extra one-way delay a packet gets on top of the base delay.
//!
//! Measured Internet and radio delay variation is skewed with a long tail (most packets
//! are a little late, a few are very late), so the default is a Pareto (Lomax) tail rather
//! than a symmetric normal: a normal jitter of mean 20 ms almost never produces the
//! 200 ms outlier that empties a jitter buffer, a Pareto one does, as real links do.

use super::rng::SimRng;

/// The shape of the delay-variation distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JitterShape {
    /// Exponential: memoryless, light tail.
    Exponential,
    /// Lomax (Pareto type II) with tail index `alpha` (> 1 for a finite mean; 2–3 is typical
    /// of cellular and Wi-Fi delay spikes).
    Pareto { alpha: f64 },
    /// Log-normal with log-space standard deviation `sigma`.
    LogNormal { sigma: f64 },
}

/// Delay variation: a distribution with a given mean, capped at [`CAP_FACTOR`] × mean: the
/// spikes a real radio link adds (scheduling, link-layer retransmissions) are bounded by its
/// retry limits, and an unbounded Pareto tail would model an outage instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    pub mean_us: u64,
    pub shape: JitterShape,
}

/// Largest sample as a multiple of the mean.
pub const CAP_FACTOR: f64 = 10.0;

impl Jitter {
    pub const NONE: Jitter = Jitter { mean_us: 0, shape: JitterShape::Pareto { alpha: 3.0 } };

    /// Pareto-tailed jitter (α = 3) with the given mean.
    pub fn pareto(mean_us: u64) -> Jitter {
        Jitter { mean_us, shape: JitterShape::Pareto { alpha: 3.0 } }
    }

    /// One sample in µs. Always draws exactly one or two values from `rng` (fixed per shape),
    /// so that changing the mean does not shift the loss decisions of later packets.
    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        let mean = self.mean_us as f64;
        let x = match self.shape {
            JitterShape::Exponential => -mean * rng.unit_open().ln(),
            JitterShape::Pareto { alpha } => {
                let alpha = alpha.max(1.01);
                // Lomax with scale λ has mean λ / (α − 1); inverse CDF λ (U^(−1/α) − 1).
                let scale = mean * (alpha - 1.0);
                scale * (rng.unit_open().powf(-1.0 / alpha) - 1.0)
            }
            JitterShape::LogNormal { sigma } => {
                // mean of exp(μ + σZ) is exp(μ + σ²/2)
                let n = rng.normal();
                if mean <= 0.0 { 0.0 } else { (mean.ln() - sigma * sigma / 2.0 + sigma * n).exp() }
            }
        };
        x.clamp(0.0, mean * CAP_FACTOR) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_and_p99(j: Jitter) -> (f64, u64) {
        let mut rng = SimRng::new(1);
        let mut v: Vec<u64> = (0..200_000).map(|_| j.sample(&mut rng)).collect();
        let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
        v.sort_unstable();
        (mean, v[v.len() * 99 / 100])
    }

    #[test]
    fn means_match_and_tails_differ() {
        for shape in [
            JitterShape::Exponential,
            JitterShape::Pareto { alpha: 3.0 },
            JitterShape::LogNormal { sigma: 1.0 },
        ] {
            let (mean, _) = mean_and_p99(Jitter { mean_us: 10_000, shape });
            // the cap trims a little of the heavy tails
            assert!((8_500.0..10_500.0).contains(&mean), "{shape:?}: {mean}");
        }
        let (_, p99_pareto) = mean_and_p99(Jitter::pareto(10_000));
        let (_, p99_exp) = mean_and_p99(Jitter { mean_us: 10_000, shape: JitterShape::Exponential });
        assert!(p99_pareto > p99_exp, "pareto p99 {p99_pareto} vs exponential {p99_exp}");
        assert_eq!(Jitter::NONE.sample(&mut SimRng::new(3)), 0);
    }
}
