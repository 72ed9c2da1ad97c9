//! `tts:TEXT`: speech from espeak-ng, converted as it is synthesised.
//!
//! espeak-ng writes a WAV (22050 Hz mono for its default voices) to stdout while it
//! synthesises. We read that pipe incrementally, parse the WAV header as soon as it arrives
//! ([`super::wav_stream`]), resample to the stream's rate and cut frames, so the first frame
//! is ready a few tens of milliseconds after the process starts instead of after the whole
//! text is spoken. The process is started by [`Synthesis::start`] before the publisher
//! connects, so synthesis and connection overlap.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::wav_stream::WavStream;
use super::{FrameSource, Framer, Layout, SourceError};

/// A running espeak-ng process.
pub struct Synthesis {
    child: Child,
    stdout: ChildStdout,
}

impl Synthesis {
    /// Starts espeak-ng on `text`. The text goes through stdin, not argv, so text that starts
    /// with `-` is spoken rather than parsed as an option.
    pub fn start(text: &str) -> Result<Synthesis, SourceError> {
        let mut child = Command::new("espeak-ng")
            .arg("--stdout")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => SourceError::Tts(
                    "espeak-ng is not installed or not on PATH (Debian: apt-get install espeak-ng)".into(),
                ),
                _ => SourceError::Tts(format!("cannot start espeak-ng: {e}")),
            })?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(SourceError::Tts("espeak-ng started without its pipes".into()));
        };
        // A writer thread: a long text can exceed the pipe buffer while espeak-ng is blocked
        // on its own full stdout, which we only read once the stream's layout is known.
        let text = format!("{text}\n");
        std::thread::Builder::new().name("ondes-tts-text".into()).spawn(move || {
            // a write error means espeak-ng exited early; its exit status reports why
            let _ = stdin.write_all(text.as_bytes());
        })?;
        Ok(Synthesis { child, stdout })
    }
}

/// Frames of synthesised speech at the stream's layout.
pub struct TtsSource {
    synthesis: Synthesis,
    layout: Layout,
    wav: WavStream,
    framer: Option<Framer>,
    buf: Vec<u8>,
    samples: Vec<f32>,
    tail: VecDeque<Vec<f32>>,
    ended: bool,
}

impl TtsSource {
    pub fn new(synthesis: Synthesis, layout: Layout) -> Self {
        TtsSource {
            synthesis,
            layout,
            wav: WavStream::new(),
            framer: None,
            // small reads: a frame's worth of 22 kHz audio is ~900 bytes
            buf: vec![0; 4096],
            samples: Vec::new(),
            tail: VecDeque::new(),
            ended: false,
        }
    }

    /// At the end of stdout: the exit status and stderr say whether the speech is complete.
    fn finish(&mut self) -> Result<(), SourceError> {
        self.ended = true;
        if let Some(f) = &mut self.framer {
            self.tail = f.finish().into();
        }
        let status = self.synthesis.child.wait()?;
        let mut err = String::new();
        if let Some(mut stderr) = self.synthesis.child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        if !status.success() {
            return Err(SourceError::Tts(format!("exited with {status}: {}", err.trim())));
        }
        if self.framer.is_none() {
            return Err(SourceError::Tts(format!("produced no audio: {}", err.trim())));
        }
        Ok(())
    }
}

impl FrameSource for TtsSource {
    fn next_frame(&mut self) -> Result<Option<Vec<f32>>, SourceError> {
        loop {
            if let Some(f) = self.framer.as_mut().and_then(Framer::pop) {
                return Ok(Some(f));
            }
            if self.ended {
                return Ok(self.tail.pop_front());
            }
            let n = match self.synthesis.stdout.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                self.finish()?;
                continue;
            }
            self.samples.clear();
            self.wav
                .feed(&self.buf[..n], &mut self.samples)
                .map_err(|e| SourceError::Tts(format!("unexpected output: {e}")))?;
            if self.framer.is_none()
                && let Some(fmt) = self.wav.format()
            {
                self.framer = Some(Framer::new(fmt.sample_rate, fmt.channels, self.layout)?);
            }
            if let Some(f) = &mut self.framer {
                f.push(&self.samples);
            }
        }
    }
}

impl Drop for Synthesis {
    /// A send that stops early (or never connects) must not leave espeak-ng behind. Killing
    /// a process that already exited and was waited for is a no-op.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
