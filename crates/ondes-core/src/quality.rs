//! Named quality levels: `low`, `medium`, `high`, `lossless`.
//!
//! A listener (or an operator with `adjust_quality`) says what it wants in words rather than
//! in a stream's own bitrates, which differ between a speech ladder (16, 32, 64 kbit/s) and a
//! music one (64 … 320 kbit/s). Each level has a ceiling and maps onto a ladder as the best
//! rung at or under it — or the smallest rung when even that is above the ceiling — so
//! `low` is a data saver on every stream and `high` is always the top rung. `lossless` is
//! not an Opus rung: a transport that carries lossless audio (PCM, FLAC) serves it, the
//! others refuse it by name.

use std::fmt;
use std::str::FromStr;

/// A named quality level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QualityLevel {
    /// A data saver: the best rung at or under 32 kbit/s.
    Low,
    /// The best rung at or under 128 kbit/s.
    Medium,
    /// The top rung.
    High,
    /// Lossless (PCM or FLAC), where the transport carries it.
    Lossless,
}

/// A name that is not a level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quality '{0}' is not a level; use low, medium, high or lossless")]
pub struct UnknownLevel(pub String);

impl QualityLevel {
    /// Every level, lowest first.
    pub const ALL: [QualityLevel; 4] =
        [QualityLevel::Low, QualityLevel::Medium, QualityLevel::High, QualityLevel::Lossless];

    /// The level's name as it is written in queries and JSON.
    pub fn name(self) -> &'static str {
        match self {
            QualityLevel::Low => "low",
            QualityLevel::Medium => "medium",
            QualityLevel::High => "high",
            QualityLevel::Lossless => "lossless",
        }
    }

    /// The highest bitrate the level allows, in kbit/s (`None`: no ceiling).
    pub fn ceiling_kbps(self) -> Option<u32> {
        match self {
            QualityLevel::Low => Some(32),
            QualityLevel::Medium => Some(128),
            QualityLevel::High | QualityLevel::Lossless => None,
        }
    }

    /// The index of the Opus rung this level selects on a ladder of `kbps` (ascending);
    /// `None` for `lossless` (not an Opus rung) and for an empty ladder.
    pub fn rung_index(self, kbps: &[u32]) -> Option<usize> {
        if kbps.is_empty() || self == QualityLevel::Lossless {
            return None;
        }
        Some(match self.ceiling_kbps() {
            None => kbps.len() - 1,
            Some(ceiling) => kbps.iter().rposition(|&k| k <= ceiling).unwrap_or(0),
        })
    }

    /// The share of the sample rate PCM listeners get under this level as a stream's cap
    /// (low a quarter, medium half, high and lossless all of it).
    pub fn pcm_share(self) -> f32 {
        match self {
            QualityLevel::Low => 0.25,
            QualityLevel::Medium => 0.5,
            QualityLevel::High | QualityLevel::Lossless => 1.0,
        }
    }
}

/// A stream's quality cap (`adjust_quality`): what listeners who made no choice of their
/// own get — adaptive listeners adapt under it, PCM listeners get a share of the rate.
///
/// It is either the original share of the sample rate, which also caps the ladder at the
/// same share of its rungs, or a level, which caps the ladder at the level's rung whatever
/// the ladder's length and gives PCM listeners the level's share. The two are kept apart
/// because one number cannot do both: `low` is the smallest of six music rungs (a sixth)
/// but should not cut PCM to a sixth of its rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QualityCap {
    /// A share of the sample rate in (0, 1].
    Share(f32),
    Level(QualityLevel),
}

impl QualityCap {
    /// No cap.
    pub const FULL: QualityCap = QualityCap::Share(1.0);

    /// The share of the sample rate PCM listeners get.
    pub fn pcm_share(self) -> f32 {
        match self {
            QualityCap::Share(q) => q,
            QualityCap::Level(l) => l.pcm_share(),
        }
    }

    /// The best rung allowed on a ladder of `kbps` (ascending); `None` for an empty ladder.
    pub fn best_rung(self, kbps: &[u32]) -> Option<usize> {
        let n = kbps.len();
        if n == 0 {
            return None;
        }
        Some(match self {
            QualityCap::Share(q) => ((q as f64 * n as f64).ceil() as usize).clamp(1, n) - 1,
            QualityCap::Level(l) => l.rung_index(kbps).unwrap_or(n - 1),
        })
    }

    /// The level, when the cap was given as one.
    pub fn level(self) -> Option<QualityLevel> {
        match self {
            QualityCap::Level(l) => Some(l),
            QualityCap::Share(_) => None,
        }
    }
}

impl fmt::Display for QualityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for QualityCap {
    /// A share as its number (`0.5`), a level by name (`low`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QualityCap::Share(q) => write!(f, "{q}"),
            QualityCap::Level(l) => write!(f, "{l}"),
        }
    }
}

impl FromStr for QualityLevel {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QualityLevel::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownLevel(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEECH: [u32; 3] = [16, 32, 64];
    const MUSIC: [u32; 6] = [64, 96, 128, 192, 256, 320];

    #[test]
    fn levels_map_onto_the_speech_and_music_ladders() {
        let kbps = |l: QualityLevel, ladder: &[u32]| l.rung_index(ladder).map(|i| ladder[i]);
        assert_eq!(kbps(QualityLevel::Low, &SPEECH), Some(32));
        assert_eq!(kbps(QualityLevel::Medium, &SPEECH), Some(64));
        assert_eq!(kbps(QualityLevel::High, &SPEECH), Some(64));
        // nothing at or under 32 on the music ladder: its smallest rung
        assert_eq!(kbps(QualityLevel::Low, &MUSIC), Some(64));
        assert_eq!(kbps(QualityLevel::Medium, &MUSIC), Some(128));
        assert_eq!(kbps(QualityLevel::High, &MUSIC), Some(320));
        assert_eq!(kbps(QualityLevel::Lossless, &MUSIC), None);
        assert_eq!(kbps(QualityLevel::High, &[]), None);
    }

    #[test]
    fn levels_order_rungs_from_low_to_high() {
        for ladder in [&SPEECH[..], &MUSIC[..], &[24][..], &[8, 500][..]] {
            let idx: Vec<usize> =
                QualityLevel::ALL[..3].iter().map(|l| l.rung_index(ladder).unwrap()).collect();
            assert!(idx.windows(2).all(|w| w[0] <= w[1]), "{ladder:?}: {idx:?}");
        }
    }

    #[test]
    fn a_cap_keeps_the_rung_and_the_pcm_share_apart() {
        let low = QualityCap::Level(QualityLevel::Low);
        assert_eq!(low.best_rung(&MUSIC), Some(0));
        assert_eq!(low.pcm_share(), 0.25, "not a sixth of the rate for the first of six rungs");
        assert_eq!(QualityCap::Level(QualityLevel::Lossless).best_rung(&MUSIC), Some(5));
        assert_eq!(QualityCap::Level(QualityLevel::Medium).best_rung(&SPEECH), Some(2));
        // a share caps both the same way, as it always has
        assert_eq!(QualityCap::Share(0.5).best_rung(&MUSIC), Some(2));
        assert_eq!(QualityCap::Share(0.5).pcm_share(), 0.5);
        assert_eq!(QualityCap::FULL.best_rung(&SPEECH), Some(2));
        assert_eq!(QualityCap::Share(0.01).best_rung(&SPEECH), Some(0));
        assert_eq!(low.best_rung(&[]), None);
    }

    #[test]
    fn names_parse_both_ways_and_strangers_get_the_list() {
        for l in QualityLevel::ALL {
            assert_eq!(l.name().parse::<QualityLevel>(), Ok(l));
            assert_eq!(l.to_string().to_uppercase().parse::<QualityLevel>(), Ok(l));
        }
        let e = "best".parse::<QualityLevel>().unwrap_err();
        assert!(e.to_string().contains("low, medium, high or lossless"), "{e}");
    }
}
