//! DTX on speech with pauses: bytes and packets saved, and the speech kept.

use ondes_codec::opus::{OpusApplication, OpusConfig, OpusEngine};
use serde::Serialize;

use super::CodecBenchError;
use super::codec::{decode, encode, trim};
use super::metrics::{Quality, compare};

#[derive(Debug, Clone, Serialize)]
pub struct DtxRow {
    pub engine: String,
    pub kbps: u32,
    pub kbps_without_dtx: f64,
    pub kbps_with_dtx: f64,
    pub bytes_saved_percent: f64,
    /// Packets of 1-2 bytes (no coded audio) with DTX on.
    pub empty_packets: usize,
    pub packets: usize,
    pub quality_without_dtx: Quality,
    pub quality_with_dtx: Quality,
}

pub fn measure(engine: OpusEngine, pcm: &[f32], rate: u32, kbps: u32) -> Result<DtxRow, CodecBenchError> {
    let cfg = |dtx| OpusConfig {
        sample_rate: rate,
        channels: 1,
        bitrate_bps: kbps * 1000,
        application: OpusApplication::Voip,
        complexity: 5,
        dtx,
        ..OpusConfig::default()
    };
    let plain = encode(engine, &cfg(false), pcm)?;
    let with = encode(engine, &cfg(true), pcm)?;
    let bytes = |e: &super::codec::Encoded| e.packets.iter().map(Vec::len).sum::<usize>() as f64;
    let q = |e: &super::codec::Encoded| -> Result<Quality, CodecBenchError> {
        let decoded = decode(engine, &e.packets, rate, 1)?;
        Ok(compare(pcm, trim(&decoded, e.lookahead, 1), 1, rate))
    };
    Ok(DtxRow {
        engine: engine.name().to_owned(),
        kbps,
        kbps_without_dtx: plain.kbps(20_000),
        kbps_with_dtx: with.kbps(20_000),
        bytes_saved_percent: 100.0 * (1.0 - bytes(&with) / bytes(&plain)),
        empty_packets: with.packets.iter().filter(|p| p.len() <= 2).count(),
        packets: with.packets.len(),
        quality_without_dtx: q(&plain)?,
        quality_with_dtx: q(&with)?,
    })
}
