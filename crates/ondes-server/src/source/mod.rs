//! Sources: where a stream's PCM comes from.
//!
//! A source is declared as a string `<kind>:<argument>[?key=value&…]`:
//!
//! | source | meaning |
//! |---|---|
//! | `tone:demo` | the demo: a slow sweep on the left channel, an A-major chord on the right |
//! | `tone:sine?freq=440&amp=0.5` | a sine |
//! | `tone:sweep?from=100&to=4000&period=10&amp=0.5` | a logarithmic sweep up and down, `period` seconds per cycle |
//! | `tone:noise?amp=0.2&seed=1` | white noise |
//! | `marker?period_ms=1000&burst_ms=10&freq=1000&steps=1&amp=0.5` | silence with a burst starting exactly at every whole second of wall time (every `period_ms` since the Unix epoch; `steps=4` cycles the bursts through 1, 1.5, 2 and 2.5 × `freq` so a listener more than a period late can tell them apart), placed from the frames' capture timestamps: for glass-to-glass latency measurements through any transport; see [`marker`] |
//! | `file:music.flac?loop=true` | WAV, FLAC, MP3 or Ogg Vorbis, resampled and remixed to the stream's layout |
//! | `stdin:s16le?rate=44100&channels=1` | raw PCM on standard input (`s16le` or `f32le`; rate and channels default to the stream's) |
//! | `capture:default?channels=2&rate=48000&period_ms=10` | a sound card, timed by the device's own clock (cargo feature `capture`); see [`capture`] |
//! | `publish` | pushed by a publisher (WebSocket `/publish` or HTTP `/ingest`); see [`crate::ingest`] |
//!
//! Every source but capture is a pull source ([`PcmSource`]) driven by the [`runner`], which
//! paces it by absolute deadlines. A capture source is pushed by its device and paced by the
//! device's clock ([`capture`]).

pub mod capture;
pub mod file;
pub mod marker;
pub mod runner;
pub mod spec;
pub mod stdin;
pub mod tone;

pub use runner::spawn_source;
pub use spec::{CaptureSpec, SourceSpec, SourceSpecError};

/// Why a source could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Spec(#[from] SourceSpecError),
    #[error(transparent)]
    Codec(#[from] ondes_codec::CodecError),
    #[error("reading standard input: {0}")]
    Io(#[from] std::io::Error),
    #[error("a publish stream is fed by publishers, not pulled")]
    NotPull,
    #[error(transparent)]
    Capture(#[from] capture::CaptureError),
}

/// What feeds a stream that has no publisher: a pull source on a paced thread, or a capture
/// device (built with the `capture` feature) on its own thread.
pub enum Feed {
    Pull(Box<dyn PcmSource>),
    #[cfg(feature = "capture")]
    Capture(capture::runner::CaptureSource),
}

/// Opens what feeds a stream whose source is not a publisher: a capture device is looked up
/// and checked (it fails now, naming the device and what exists), anything else is opened.
pub fn open_feed(spec: &SourceSpec, frame: &ondes_core::FrameSpec) -> Result<Feed, SourceError> {
    match spec {
        #[cfg(feature = "capture")]
        SourceSpec::Capture(c) => Ok(Feed::Capture(capture::runner::CaptureSource::open(c, frame)?)),
        #[cfg(not(feature = "capture"))]
        SourceSpec::Capture(_) => Err(capture::CaptureError::NotBuilt.into()),
        other => Ok(Feed::Pull(open_source(other, frame)?)),
    }
}

/// What a [`PcmSource::fill`] call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// A whole frame was appended.
    Frame,
    /// The source is exhausted; nothing (or a final partial frame, zero-padded) was appended.
    End,
}

/// A source that produces PCM on demand, at least as fast as real time.
pub trait PcmSource: Send {
    /// Appends exactly one frame (`samples_per_frame` interleaved samples) to `out`, or
    /// returns [`Fill::End`] when exhausted.
    fn fill(&mut self, out: &mut Vec<f32>, samples_per_frame: usize) -> Result<Fill, SourceError>;

    /// Whether the audio depends on the wall time it is released at (the [`marker`]): then
    /// the runner fills each frame at its deadline with [`PcmSource::fill_at`] instead of
    /// ahead of it.
    fn wall_clocked(&self) -> bool {
        false
    }

    /// Appends the frame that will be published with capture timestamp `capture_us` (µs
    /// since the Unix epoch, when its last sample is captured). Only wall-clocked sources
    /// use the timestamp.
    fn fill_at(
        &mut self,
        out: &mut Vec<f32>,
        samples_per_frame: usize,
        capture_us: i64,
    ) -> Result<Fill, SourceError> {
        let _ = capture_us;
        self.fill(out, samples_per_frame)
    }

    /// One-line description for logs and `/api/streams`.
    fn describe(&self) -> String;
}

/// Opens the source a spec describes, for a stream with layout `frame`. Files are opened
/// and probed here, so a bad file fails at start-up with its name and the reason.
pub fn open_source(
    spec: &SourceSpec,
    frame: &ondes_core::FrameSpec,
) -> Result<Box<dyn PcmSource>, SourceError> {
    Ok(match spec {
        SourceSpec::Tone { wave, amplitude } => {
            Box::new(tone::ToneSource::new(*wave, *amplitude, frame.sample_rate, frame.channels))
        }
        SourceSpec::Marker(m) => Box::new(marker::MarkerSource::new(*m, frame.sample_rate, frame.channels)),
        SourceSpec::File { path, looped } => Box::new(file::FileSource::open(path, *looped, frame)?),
        SourceSpec::Stdin { format, rate, channels } => {
            Box::new(stdin::StdinSource::new(std::io::stdin(), *format, *rate, *channels, frame)?)
        }
        SourceSpec::Publish | SourceSpec::Icecast | SourceSpec::Capture(_) => {
            return Err(SourceError::NotPull);
        }
    })
}
