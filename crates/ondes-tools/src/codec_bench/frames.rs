//! Every Opus frame duration, mono and stereo, on the music at 64 kbit/s per channel.

use std::time::Instant;

use ondes_codec::opus::{OpusApplication, OpusConfig, OpusEngine};
use serde::Serialize;

use super::CodecBenchError;
use super::codec::{decode, encode, trim};
use super::metrics::{Quality, compare};

#[derive(Debug, Clone, Serialize)]
pub struct FrameRow {
    pub engine: String,
    pub frame_us: u32,
    pub channels: u16,
    pub kbps: u32,
    /// None when the engine refuses the configuration (the reason in `refused`).
    pub quality: Option<Quality>,
    pub refused: Option<String>,
    pub kbps_out: f64,
    /// Encoding cost per second of audio, ms of CPU.
    pub encode_ms_per_s: f64,
}

pub fn measure(
    engine: OpusEngine,
    music: &[f32],
    rate: u32,
    channels: u16,
    frame_us: u32,
) -> Result<FrameRow, CodecBenchError> {
    let pcm: Vec<f32> =
        if channels == 2 { music.to_vec() } else { music.iter().step_by(2).copied().collect() };
    let kbps = 64 * u32::from(channels);
    let cfg = OpusConfig {
        sample_rate: rate,
        channels,
        frame_us,
        bitrate_bps: kbps * 1000,
        complexity: 10,
        application: OpusApplication::Audio,
        ..OpusConfig::default()
    };
    let mut row = FrameRow {
        engine: engine.name().to_owned(),
        frame_us,
        channels,
        kbps,
        quality: None,
        refused: None,
        kbps_out: 0.0,
        encode_ms_per_s: 0.0,
    };
    let start = Instant::now();
    let enc = match encode(engine, &cfg, &pcm) {
        Ok(e) => e,
        Err(CodecBenchError::Codec(e)) => {
            row.refused = Some(e.to_string());
            return Ok(row);
        }
        Err(e) => return Err(e),
    };
    let secs = pcm.len() as f64 / f64::from(channels) / f64::from(rate);
    row.encode_ms_per_s = start.elapsed().as_secs_f64() * 1000.0 / secs;
    row.kbps_out = enc.kbps(frame_us);
    let decoded = decode(engine, &enc.packets, rate, channels)?;
    row.quality = Some(compare(&pcm, trim(&decoded, enc.lookahead, channels), usize::from(channels), rate));
    Ok(row)
}
