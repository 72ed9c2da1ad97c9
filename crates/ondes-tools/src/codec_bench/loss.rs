//! Random packet loss with in-band FEC: how many lost frames the next packet's FEC data
//! rebuilds, and how close the rebuilt audio is to the source, against concealment alone.

use ondes_codec::opus::{OpusApplication, OpusConfig, OpusDecoder, OpusEngine};
use serde::Serialize;

use super::CodecBenchError;
use super::codec::encode;
use super::metrics::{Quality, compare, db};

#[derive(Debug, Clone, Serialize)]
pub struct LossRow {
    pub engine: String,
    pub kbps: u32,
    pub loss_percent: u64,
    pub packets: usize,
    pub lost: usize,
    /// Lost frames whose next packet arrived and carried FEC data that rebuilt them.
    pub recovered: usize,
    pub recovered_percent: f64,
    /// SNR over the lost frames only: rebuilt where possible, else concealed.
    pub lost_snr_db_fec: f64,
    /// The same with every lost frame concealed.
    pub lost_snr_db_plc: f64,
    /// The whole stream as heard with FEC.
    pub stream_fec: Quality,
    /// The whole stream with concealment only.
    pub stream_plc: Quality,
}

/// A seeded pattern: each of `n` packets lost with probability `percent` %.
pub fn random_losses(n: usize, percent: u64, seed: u64) -> Vec<bool> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 100 < percent
        })
        .collect()
}

/// Decodes the first `until` frames as a receiver would; with `fec`, a lost frame whose next
/// packet arrived is rebuilt from it.
fn receive(
    engine: OpusEngine,
    cfg: &OpusConfig,
    packets: &[Vec<u8>],
    lost: &[bool],
    fec: bool,
    until: usize,
) -> Result<(OpusDecoder, Vec<f32>), CodecBenchError> {
    let mut dec = OpusDecoder::with_engine(cfg.sample_rate, cfg.channels, engine)?;
    let mut out = Vec::new();
    let frame = cfg.frame_samples();
    for k in 0..until {
        if !lost[k] {
            dec.decode(&packets[k], &mut out)?;
        } else if fec && k + 1 < packets.len() && !lost[k + 1] {
            dec.decode_fec(&packets[k + 1], frame, &mut out)?;
        } else {
            dec.conceal(frame, &mut out)?;
        }
    }
    Ok((dec, out))
}

/// One stream of speech, `voip` with FEC told to expect `percent` % loss, losing that much.
pub fn measure(
    engine: OpusEngine,
    speech: &[f32],
    rate: u32,
    kbps: u32,
    percent: u64,
    seed: u64,
) -> Result<LossRow, CodecBenchError> {
    let cfg = OpusConfig {
        sample_rate: rate,
        channels: 1,
        bitrate_bps: kbps * 1000,
        application: OpusApplication::Voip,
        complexity: 5,
        fec: true,
        expected_loss_percent: percent as u8,
        ..OpusConfig::default()
    };
    let enc = encode(engine, &cfg, speech)?;
    let packets = &enc.packets;
    let lost = random_losses(packets.len(), percent, seed);
    let frame = cfg.frame_samples();
    let (_, with_fec) = receive(engine, &cfg, packets, &lost, true, packets.len())?;
    let (_, without) = receive(engine, &cfg, packets, &lost, false, packets.len())?;
    let mut reference = vec![0.0; enc.lookahead];
    reference.extend_from_slice(speech);
    reference.resize(with_fec.len(), 0.0);
    let lost_frames: Vec<usize> = (0..packets.len()).filter(|&k| lost[k]).collect();
    let (mut signal, mut err_fec, mut err_plc) = (0.0f64, 0.0f64, 0.0f64);
    for &k in &lost_frames {
        for i in k * frame..(k + 1) * frame {
            let r = f64::from(reference[i]);
            signal += r * r;
            err_fec += (r - f64::from(with_fec[i])).powi(2);
            err_plc += (r - f64::from(without[i])).powi(2);
        }
    }
    let mut recovered = 0;
    for &k in lost_frames.iter().filter(|&&k| k + 1 < packets.len() && !lost[k + 1]) {
        let (mut a, _) = receive(engine, &cfg, packets, &lost, true, k)?;
        let (mut b, _) = receive(engine, &cfg, packets, &lost, true, k)?;
        let (mut fa, mut fb) = (Vec::new(), Vec::new());
        a.decode_fec(&packets[k + 1], frame, &mut fa)?;
        b.conceal(frame, &mut fb)?;
        if fa != fb {
            recovered += 1;
        }
    }
    let ref_trim = &reference[enc.lookahead..];
    Ok(LossRow {
        engine: engine.name().to_owned(),
        kbps,
        loss_percent: percent,
        packets: packets.len(),
        lost: lost_frames.len(),
        recovered,
        recovered_percent: 100.0 * recovered as f64 / lost_frames.len().max(1) as f64,
        lost_snr_db_fec: db(signal, err_fec),
        lost_snr_db_plc: db(signal, err_plc),
        stream_fec: compare(ref_trim, &with_fec[enc.lookahead..], 1, rate),
        stream_plc: compare(ref_trim, &without[enc.lookahead..], 1, rate),
    })
}
