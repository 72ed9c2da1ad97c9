//! The receiving end of the playout: jitter buffer in, one decoded frame out per tick of
//! the playout clock, to the output file and the latency statistics.

use ondes_core::jitter::{JitterBuffer, JitterConfig, Playout};

use super::ListenError;
use super::decode::FrameDecoder;
use super::sink::AudioSink;
use super::transport::{AudioLayout, FrameData, RxFrame};
use crate::histogram::LatencyHistogram;

/// What the jitter buffer holds per frame.
#[derive(Debug)]
pub struct Payload {
    capture_us: i64,
    data: FrameData,
}

pub struct Player {
    pub layout: AudioLayout,
    pub jb: JitterBuffer<Payload>,
    decoder: FrameDecoder,
    sink: Option<AudioSink>,
    /// Capture → play-out.
    pub e2e: LatencyHistogram,
    /// Capture → arrival.
    pub network: LatencyHistogram,
    buf: Vec<f32>,
    /// Frame periods played (and written) since playback started.
    pub periods: u64,
    /// Coded audio received (Opus packets, or 2 bytes per PCM sample as sent).
    pub payload_bytes: u64,
}

impl Player {
    pub fn new(layout: AudioLayout, cfg: JitterConfig, sink: Option<AudioSink>) -> Result<Self, ListenError> {
        Ok(Player {
            layout,
            jb: JitterBuffer::new(cfg).map_err(|e| ListenError::Options(e.to_string()))?,
            decoder: FrameDecoder::new(layout),
            sink,
            e2e: LatencyHistogram::new(),
            network: LatencyHistogram::new(),
            buf: Vec::new(),
            periods: 0,
            payload_bytes: 0,
        })
    }

    /// A frame arrived at `arrival_us` (same clock as the capture times: the wall clock).
    pub fn insert(&mut self, frame: RxFrame, arrival_us: i64) {
        // negative only with a skewed clock between machines: counted as 0
        self.network.record_us((arrival_us - frame.capture_us).max(0) as u64);
        self.payload_bytes += match &frame.data {
            FrameData::Opus(p) => p.len() as u64,
            FrameData::Pcm(s) => 2 * s.len() as u64,
        };
        self.jb.insert(
            frame.seq,
            frame.capture_us,
            Payload { capture_us: frame.capture_us, data: frame.data },
            arrival_us,
        );
    }

    /// One period of the playout clock, scheduled at `tick_us` and running at `now_us`.
    ///
    /// The jitter buffer is driven by the scheduled times (a steady clock, like a sound
    /// card's); latency is measured at the actual time the frame is handed to the output.
    pub fn tick(&mut self, tick_us: i64, now_us: i64) -> Result<(), ListenError> {
        self.buf.clear();
        match self.jb.poll(tick_us) {
            Playout::Buffering => return Ok(()),
            Playout::Frame(p) => {
                self.decoder.play(&p.data, &mut self.buf)?;
                self.e2e.record_us((now_us - p.capture_us).max(0) as u64);
            }
            Playout::Missing { .. } => {
                let next = self.jb.peek_next().map(|p| &p.data);
                if self.decoder.recover(next, &mut self.buf)? {
                    self.jb.record_fec_recovered();
                }
            }
            Playout::Underrun | Playout::Stretch => self.decoder.conceal(&mut self.buf)?,
        }
        self.periods += 1;
        if let Some(sink) = &mut self.sink {
            sink.write(&self.buf)?;
        }
        Ok(())
    }

    /// Opus packets that failed to decode.
    pub fn decode_errors(&self) -> u64 {
        self.decoder.decode_errors
    }

    /// Completes the output file.
    pub fn finish_output(&mut self) -> Result<(), ListenError> {
        match self.sink.take() {
            Some(sink) => sink.finish(),
            None => Ok(()),
        }
    }
}
