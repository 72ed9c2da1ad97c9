//! The receiving end of the playout: jitter buffer in, one decoded frame out per tick of
//! the playout clock, to the output file and the latency statistics.

use ondes_core::jitter::{JitterBuffer, JitterConfig, Playout};
use ondes_core::stretch::compress;

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
    /// A frame played shortened.
    shortened: Vec<f32>,
    /// Frame periods played (and written) since playback started.
    pub periods: u64,
    /// Audio handed to the output since playback started, samples per channel (fewer than
    /// the periods' when frames were played shortened).
    pub played_samples: u64,
    /// Coded audio received (Opus packets, or 2 bytes per PCM sample as sent).
    pub payload_bytes: u64,
    /// Capture → play-out, by second of playout.
    pub latency_by_second: LatencySeries,
}

/// Mean capture-to-playout latency of each second of playout since the first frame, for at
/// most [`LatencySeries::MAX_SECONDS`] (bounded memory on a session that lasts days): what a
/// bench needs to time the recovery after a congestion episode.
#[derive(Debug, Default)]
pub struct LatencySeries {
    /// When the first frame played (the clock of [`Player::tick`]), µs.
    pub start_us: Option<i64>,
    /// (sum of latencies µs, frames) per second.
    seconds: Vec<(u64, u32)>,
}

impl LatencySeries {
    pub const MAX_SECONDS: usize = 3_600;

    fn record(&mut self, now_us: i64, latency_us: u64) {
        let start = *self.start_us.get_or_insert(now_us);
        let i = ((now_us - start).max(0) / 1_000_000) as usize;
        if i >= Self::MAX_SECONDS {
            return;
        }
        if self.seconds.len() <= i {
            self.seconds.resize(i + 1, (0, 0));
        }
        self.seconds[i].0 += latency_us;
        self.seconds[i].1 += 1;
    }

    /// Mean latency of each second, ms (`None` for a second without a frame played).
    pub fn means_ms(&self) -> Vec<Option<f64>> {
        self.seconds.iter().map(|&(sum, n)| (n > 0).then(|| sum as f64 / n as f64 / 1000.0)).collect()
    }
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
            shortened: Vec::new(),
            periods: 0,
            played_samples: 0,
            payload_bytes: 0,
            latency_by_second: LatencySeries::default(),
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

    /// One poll of the playout clock, scheduled at `tick_us` and running at `now_us`;
    /// returns how long what it handed to the output plays, µs (the next poll is due then).
    ///
    /// The jitter buffer is driven by the scheduled times (a steady clock, like a sound
    /// card's); latency is measured at the actual time the frame is handed to the output.
    /// A frame the buffer asks to play shortened (the delay is above its target) is cut by
    /// whole pitch periods ([`ondes_core::stretch`]).
    pub fn tick(&mut self, tick_us: i64, now_us: i64) -> Result<u64, ListenError> {
        self.buf.clear();
        let frame_us = u64::from(self.layout.frame_us);
        match self.jb.poll(tick_us) {
            Playout::Buffering => return Ok(frame_us),
            Playout::Frame(p) => {
                self.decoder.play(&p.data, &mut self.buf)?;
                self.record_latency(now_us, p.capture_us);
            }
            Playout::Accelerate { payload: p, max_remove_us } => {
                self.decoder.play(&p.data, &mut self.buf)?;
                self.record_latency(now_us, p.capture_us);
                let rate = self.layout.sample_rate;
                let max_remove = (u64::from(rate) * max_remove_us / 1_000_000) as usize;
                self.shortened.clear();
                let cut = compress(
                    &self.buf,
                    usize::from(self.layout.channels),
                    rate,
                    max_remove,
                    &mut self.shortened,
                );
                std::mem::swap(&mut self.buf, &mut self.shortened);
                let cut_us = cut.removed as u64 * 1_000_000 / u64::from(rate);
                self.jb.record_accelerated(cut_us);
                self.periods += 1;
                self.played_samples += (self.buf.len() / usize::from(self.layout.channels.max(1))) as u64;
                if let Some(sink) = &mut self.sink {
                    sink.write(&self.buf)?;
                }
                return Ok(frame_us - cut_us);
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
        self.played_samples += (self.buf.len() / usize::from(self.layout.channels.max(1))) as u64;
        if let Some(sink) = &mut self.sink {
            sink.write(&self.buf)?;
        }
        Ok(frame_us)
    }

    fn record_latency(&mut self, now_us: i64, capture_us: i64) {
        let latency = (now_us - capture_us).max(0) as u64;
        self.e2e.record_us(latency);
        self.latency_by_second.record(now_us, latency);
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
