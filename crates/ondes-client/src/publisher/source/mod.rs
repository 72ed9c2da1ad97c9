//! Where a publisher's audio comes from: frames of PCM at the stream's layout.
//!
//! Every source produces whole frames (`channels × rate × frame duration` interleaved
//! `f32`), converting from its own rate and channel count; the last frame of a finite source
//! is padded with silence. Sources are blocking (files, pipes, a child process), so they run
//! on their own thread ([`spawn`]) and hand frames over a small bounded channel: the sender
//! decides when a frame goes out, the source only keeps a few frames ready.

mod file;
mod framer;
mod pipe;
mod spec;
mod tone;
mod tts;
pub mod wav_stream;

use std::time::Instant;

pub use framer::Framer;
pub use pipe::PipeSource;
pub use spec::SourceSpec;
pub use tone::SineSource;
pub use tts::TtsSource;

/// The stream's audio layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub sample_rate: u32,
    pub channels: u16,
    pub frame_us: u32,
}

impl Layout {
    pub fn samples_per_channel(&self) -> usize {
        (u64::from(self.sample_rate) * u64::from(self.frame_us) / 1_000_000) as usize
    }

    pub fn samples_per_frame(&self) -> usize {
        self.samples_per_channel() * usize::from(self.channels)
    }
}

/// Why a source cannot produce audio.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid source: {0}")]
    Spec(String),
    #[error(transparent)]
    Codec(#[from] ondes_codec::CodecError),
    #[error("reading the source failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("espeak-ng: {0}")]
    Tts(String),
}

/// A blocking producer of frames at the stream's layout.
pub trait FrameSource: Send {
    /// The next frame, or `None` at the end of the audio.
    fn next_frame(&mut self) -> Result<Option<Vec<f32>>, SourceError>;
}

/// A source whose slow start-up (a TTS process) has already begun, waiting for the layout.
pub enum PreparedSource {
    File(std::path::PathBuf),
    Sine { freq: f64, amplitude: f32 },
    Stdin { format: ondes_codec::SampleFormat, rate: u32, channels: u16 },
    Tts(tts::Synthesis),
}

impl PreparedSource {
    /// Starts what can start before the stream's layout is known: the TTS engine begins
    /// synthesising while the publisher connects, which shortens the time to first audio.
    pub fn prepare(spec: &SourceSpec) -> Result<PreparedSource, SourceError> {
        Ok(match spec {
            SourceSpec::File { path } => PreparedSource::File(path.clone()),
            SourceSpec::Sine { freq, amplitude } => {
                PreparedSource::Sine { freq: *freq, amplitude: *amplitude }
            }
            SourceSpec::Stdin { format, rate, channels } => {
                PreparedSource::Stdin { format: *format, rate: *rate, channels: *channels }
            }
            SourceSpec::Tts { text } => PreparedSource::Tts(tts::Synthesis::start(text)?),
        })
    }

    /// Opens the source for `layout`.
    pub fn open(self, layout: Layout) -> Result<Box<dyn FrameSource>, SourceError> {
        Ok(match self {
            PreparedSource::File(path) => Box::new(file::FileSource::open(&path, layout)?),
            PreparedSource::Sine { freq, amplitude } => Box::new(SineSource::new(freq, amplitude, layout)),
            PreparedSource::Stdin { format, rate, channels } => {
                Box::new(PipeSource::new(Box::new(std::io::stdin()), format, rate, channels, layout)?)
            }
            PreparedSource::Tts(synthesis) => Box::new(TtsSource::new(synthesis, layout)),
        })
    }
}

/// A frame from the source thread, with the time it became available.
pub type SourceItem = Result<(Vec<f32>, Instant), SourceError>;

/// Runs `source` on its own thread, keeping up to `ahead` frames ready in the channel. The
/// thread ends at the end of the audio, on an error (sent as the last item), or when the
/// receiver is dropped.
pub fn spawn(
    mut source: Box<dyn FrameSource>,
    ahead: usize,
) -> Result<tokio::sync::mpsc::Receiver<SourceItem>, SourceError> {
    let (tx, rx) = tokio::sync::mpsc::channel(ahead.max(1));
    std::thread::Builder::new().name("ondes-send-source".into()).spawn(move || {
        loop {
            let item = match source.next_frame() {
                Ok(Some(frame)) => Ok((frame, Instant::now())),
                Ok(None) => return,
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    })?;
    Ok(rx)
}
