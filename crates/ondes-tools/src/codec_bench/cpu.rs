//! CPU per frame of a whole ladder: every rung encodes every frame (what the hub does), and a
//! listener decodes one rung.

use std::time::Instant;

use ondes_codec::opus::{OpusDecoder, OpusEncoder, OpusEngine};
use serde::Serialize;

use super::CodecBenchError;
use super::codec::{encode, rung};

#[derive(Debug, Clone, Serialize)]
pub struct CpuRow {
    pub engine: String,
    pub ladder: String,
    pub complexity: u8,
    pub rungs_kbps: Vec<u32>,
    /// Encoding every rung of one 20 ms frame, µs.
    pub encode_us_per_frame: f64,
    /// Decoding one frame of each rung in turn, µs (the sum over rungs).
    pub decode_us_per_frame: f64,
    /// Fraction of one core the ladder's encoders take in real time.
    pub encode_core_fraction: f64,
    /// Bit/s produced, summed over the rungs.
    pub kbps_out: f64,
}

/// Times `ladder` on `pcm` (20 ms frames) for at least `seconds` of CPU time per direction.
pub fn measure(
    engine: OpusEngine,
    name: &str,
    ladder: &[u32],
    complexity: u8,
    pcm: &[f32],
    rate: u32,
    channels: u16,
    seconds: f64,
) -> Result<CpuRow, CodecBenchError> {
    let configs: Vec<_> = ladder.iter().map(|&k| rung(k, complexity, rate, channels, 20_000)).collect();
    let frame = configs[0].frame_samples() * usize::from(channels);
    let frames: Vec<&[f32]> = pcm.chunks_exact(frame).collect();
    let mut encoders =
        configs.iter().map(|c| OpusEncoder::with_engine(c.clone(), engine)).collect::<Result<Vec<_>, _>>()?;
    let mut packet = Vec::with_capacity(4000);
    let (mut n, mut bytes) = (0usize, 0usize);
    let start = Instant::now();
    while n < frames.len() || start.elapsed().as_secs_f64() < seconds {
        for enc in &mut encoders {
            packet.clear();
            bytes += enc.encode(frames[n % frames.len()], &mut packet)?;
        }
        n += 1;
    }
    let encode_us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    let kbps_out = bytes as f64 * 8.0 / (n as f64 * 0.020) / 1000.0;

    let streams =
        configs.iter().map(|c| encode(engine, c, pcm).map(|e| e.packets)).collect::<Result<Vec<_>, _>>()?;
    let mut decoders = streams
        .iter()
        .map(|_| OpusDecoder::with_engine(rate, channels, engine))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(frame);
    let mut m = 0usize;
    let start = Instant::now();
    while m < streams[0].len() || start.elapsed().as_secs_f64() < seconds {
        for (dec, packets) in decoders.iter_mut().zip(&streams) {
            out.clear();
            dec.decode(&packets[m % packets.len()], &mut out)?;
        }
        m += 1;
    }
    let decode_us = start.elapsed().as_secs_f64() * 1e6 / m as f64;
    Ok(CpuRow {
        engine: engine.name().to_owned(),
        ladder: name.to_owned(),
        complexity,
        rungs_kbps: ladder.to_vec(),
        encode_us_per_frame: encode_us,
        decode_us_per_frame: decode_us,
        encode_core_fraction: encode_us / 20_000.0,
        kbps_out,
    })
}
