//! `capture:` source: a sound card (any input device) read through cpal (ALSA on Linux).
//!
//! ```text
//!  device ──callback (real time)──▶ SPSC rings ──▶ runner thread ──frames──▶ hub
//!          converts to f32, pushes     samples +      DeviceClock: timestamps,
//!          one period, never waits,    period info    drift, gaps; silence while
//!          allocates or locks                         the device is lost; levels
//! ```
//!
//! * [`callback`]: the device's real-time callback. It converts the period to `f32` into a
//!   lock-free single-producer ring (`rtrb`), records the period's wall time, and wakes the
//!   runner; when the ring is full the whole period is dropped and counted, never waited for.
//! * [`runner`]: the source's thread. It times the samples with the sans-IO
//!   [`ondes_core::device_clock::DeviceClock`] (timestamps from the device's sample count,
//!   drift in ppm, gaps for lost samples), cuts frames, pushes them, and when the device goes
//!   away plays silence (`source-lost`) and reopens it every `retry_ms`.
//! * [`device`]: finding a device by name, checking what it supports, listing devices.
//!
//! Capture needs ALSA's headers at build time, so it is the cargo feature `capture`; a build
//! without it parses `capture:` sources (so configs stay valid) and fails at start with
//! [`CaptureError::NotBuilt`].

#[cfg(feature = "capture")]
pub mod callback;
#[cfg(feature = "capture")]
pub mod device;
#[cfg(feature = "capture")]
pub mod priority;
#[cfg(feature = "capture")]
pub mod runner;
pub mod status;

use serde::Serialize;

pub use status::{CaptureSnapshot, CaptureState, CaptureStatus};

/// Why capture cannot start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "this ondes was built without sound-card capture; rebuild it with `--features capture` \
         (e.g. `cargo run --release --features capture -- serve`), which needs ALSA's headers \
         (Debian: apt-get install libasound2-dev pkg-config)"
    )]
    NotBuilt,
    #[error("the sound system is not available: {0}")]
    Host(String),
    #[error("no capture device '{device}'; input devices here: {available} (see `ondes devices`)")]
    UnknownDevice { device: String, available: String },
    #[error("capture device '{device}' cannot record {wanted}; it supports: {supported}")]
    Unsupported { device: String, wanted: String, supported: String },
    #[error("capture device '{device}' could not be opened: {message}")]
    Open { device: String, message: String },
}

/// One input device, as `ondes devices` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    /// The name to put after `capture:`.
    pub name: String,
    pub description: String,
    /// Supported configurations (empty when `error` says why they could not be read).
    pub configs: Vec<ConfigRange>,
    pub error: Option<String>,
}

/// A range of configurations a device supports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigRange {
    pub channels: u16,
    pub min_rate: u32,
    pub max_rate: u32,
    pub format: String,
}

impl std::fmt::Display for ConfigRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min_rate == self.max_rate {
            write!(f, "{} ch {} Hz {}", self.channels, self.min_rate, self.format)
        } else {
            write!(f, "{} ch {}–{} Hz {}", self.channels, self.min_rate, self.max_rate, self.format)
        }
    }
}

/// Ranges folded for reading: channel counts that share a rate range and format make one
/// entry (`1–32 ch, 1–384000 Hz: f32, i16`).
pub fn fold_ranges(configs: &[ConfigRange]) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut by_format: BTreeMap<(u32, u32, &str), Vec<u16>> = BTreeMap::new();
    for c in configs {
        by_format.entry((c.min_rate, c.max_rate, c.format.as_str())).or_default().push(c.channels);
    }
    let mut lines: BTreeMap<(String, u32, u32), Vec<&str>> = BTreeMap::new();
    for ((min, max, format), mut ch) in by_format {
        ch.sort_unstable();
        ch.dedup();
        lines.entry((compact(&ch), min, max)).or_default().push(format);
    }
    lines
        .into_iter()
        .map(|((ch, min, max), formats)| {
            let rates = if min == max { format!("{min} Hz") } else { format!("{min}–{max} Hz") };
            format!("{ch} ch, {rates}: {}", formats.join(", "))
        })
        .collect()
}

/// `1–8, 10` for a sorted list of channel counts.
fn compact(channels: &[u16]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < channels.len() {
        let mut j = i;
        while j + 1 < channels.len() && channels[j + 1] == channels[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            channels[i].to_string()
        } else {
            format!("{}–{}", channels[i], channels[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// Every input device of the system, with what it supports.
pub fn list_devices() -> Result<Vec<DeviceInfo>, CaptureError> {
    #[cfg(feature = "capture")]
    {
        device::list()
    }
    #[cfg(not(feature = "capture"))]
    {
        Err(CaptureError::NotBuilt)
    }
}

/// Whether this build can capture.
pub const fn available() -> bool {
    cfg!(feature = "capture")
}

#[cfg(all(test, not(feature = "capture")))]
mod tests {
    use crate::source::{SourceSpec, open_feed};

    #[test]
    fn without_the_feature_a_capture_source_says_how_to_build_it() {
        let spec = SourceSpec::parse("capture:default").unwrap();
        let frame = ondes_core::FrameSpec::new(48_000, 2, ondes_core::FrameDuration::DEFAULT).unwrap();
        let e = open_feed(&spec, &frame).err().expect("no capture in this build").to_string();
        assert!(e.contains("--features capture") && e.contains("libasound2-dev"), "{e}");
        assert!(super::list_devices().unwrap_err().to_string().contains("--features capture"));
    }
}
