//! Quality of each rung of a ladder against its source, each engine decoding its own packets.

use ondes_codec::opus::OpusEngine;
use serde::Serialize;

use super::CodecBenchError;
use super::codec::{decode, encode, rung, trim};
use super::metrics::{Quality, compare};

#[derive(Debug, Clone, Serialize)]
pub struct RungQuality {
    pub engine: String,
    pub signal: String,
    pub kbps: u32,
    pub complexity: u8,
    pub kbps_out: f64,
    #[serde(flatten)]
    pub quality: Quality,
}

pub fn measure(
    engine: OpusEngine,
    signal: &str,
    pcm: &[f32],
    rate: u32,
    channels: u16,
    kbps: u32,
    complexity: u8,
) -> Result<RungQuality, CodecBenchError> {
    let cfg = rung(kbps, complexity, rate, channels, 20_000);
    let enc = encode(engine, &cfg, pcm)?;
    let decoded = decode(engine, &enc.packets, rate, channels)?;
    let quality = compare(pcm, trim(&decoded, enc.lookahead, channels), usize::from(channels), rate);
    Ok(RungQuality {
        engine: engine.name().to_owned(),
        signal: signal.to_owned(),
        kbps,
        complexity,
        kbps_out: enc.kbps(20_000),
        quality,
    })
}
