//! A WHIP publisher's Opus packets to the stream's PCM frames (sans-IO).
//!
//! Packets arrive by RTP timestamp (48 kHz, extended to 64 bits by str0m, which has already
//! rebuilt packets from RED redundancy when the publisher sends RED: a rebuilt packet comes
//! right after the later packet that carried it, and the reorder window puts it in its place). A small reorder
//! window holds packets until the one due next is there, or until `hold` packets wait
//! behind a gap: then the gap is lost. A lost stretch is concealed by the decoder (PLC),
//! and its last packet-length is recovered from the in-band FEC of the packet after it
//! when that packet carries FEC. Decoded PCM is cut into frames of the stream's duration,
//! so publishers may send any Opus packet duration.
//!
//! When a packet is exactly one stream frame, on a frame boundary, with the stream's channel
//! count, the frame keeps it ([`SourceOpus::Packet`]) for Opus passthrough: the rung nearest
//! the publisher's bitrate carries the publisher's packets unchanged. A frame that was lost
//! is [`SourceOpus::Lost`] (that rung's listeners conceal it, with the next packet's FEC).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use ondes_codec::OpusDecoder;
use ondes_core::FrameSpec;

use crate::hub::SourceOpus;

/// RTP clock of Opus (RFC 7587): always 48 kHz.
const OPUS_CLOCK: u64 = 48_000;
/// The longest gap concealed; beyond it the receiver restarts at the next packet.
const MAX_GAP_TICKS: u64 = OPUS_CLOCK; // 1 s

/// What a publisher's audio went through, for `/stats` and attribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReceiveStats {
    pub packets: u64,
    /// Packets that arrived after their turn (or twice) and were dropped.
    pub late_packets: u64,
    /// Packet-lengths never received, concealed by PLC.
    pub concealed_packets: u64,
    /// Packet-lengths recovered from the next packet's in-band FEC.
    pub fec_recovered: u64,
    /// Packets lost on the way but rebuilt by str0m from a later packet's RED redundancy
    /// (counted in `packets` too: a rebuilt packet is the publisher's own, decoded and passed
    /// through like any other).
    pub red_recovered: u64,
    /// Packets the decoder refused.
    pub decode_errors: u64,
    /// Stream frames produced.
    pub frames: u64,
}

/// Turns one publisher's Opus packets into the stream's frames.
pub struct OpusReceiver {
    spec: FrameSpec,
    decoder: OpusDecoder,
    hold: usize,
    /// RTP time of the next packet due.
    next_ts: Option<u64>,
    /// Duration of the last packet decoded, in 48 kHz ticks.
    last_ticks: u64,
    pending: BTreeMap<u64, Bytes>,
    /// Decoded samples (interleaved, stream rate) not yet cut into a frame.
    pcm: Vec<f32>,
    /// What each whole frame in `pcm` has for passthrough, while `pcm` holds whole frames
    /// each made of one packet (cleared when a packet does not fit that).
    marks: VecDeque<SourceOpus>,
    scratch: Vec<f32>,
    pub stats: ReceiveStats,
}

impl OpusReceiver {
    /// A receiver for a stream of layout `spec` that waits for at most `hold` packets behind
    /// a gap (the reorder window: `hold` × the packet duration).
    pub fn new(spec: FrameSpec, hold: usize) -> Result<Self, ondes_codec::CodecError> {
        Ok(OpusReceiver {
            spec,
            decoder: OpusDecoder::new(spec.sample_rate, spec.channels)?,
            hold: hold.max(1),
            next_ts: None,
            last_ticks: 960,
            pending: BTreeMap::new(),
            pcm: Vec::new(),
            marks: VecDeque::new(),
            scratch: Vec::new(),
            stats: ReceiveStats::default(),
        })
    }

    /// Takes the packet with RTP time `ts` (`from_red`: rebuilt from RED redundancy); appends
    /// every frame now complete to `out`.
    pub fn push(&mut self, ts: u64, packet: Bytes, from_red: bool, out: &mut Vec<(Vec<f32>, SourceOpus)>) {
        self.stats.packets += 1;
        if self.next_ts.is_some_and(|n| ts < n) || self.pending.contains_key(&ts) {
            self.stats.late_packets += 1;
            return;
        }
        // a rebuilt packet counts as recovered only when it filled a hole
        if from_red {
            self.stats.red_recovered += 1;
        }
        self.pending.insert(ts, packet);
        self.drain(false);
        self.cut(out);
    }

    /// Plays out what waits behind a gap (the publisher left): conceals nothing more.
    pub fn flush(&mut self, out: &mut Vec<(Vec<f32>, SourceOpus)>) {
        self.drain(true);
        self.cut(out);
    }

    fn drain(&mut self, all: bool) {
        while let Some((&ts, _)) = self.pending.first_key_value() {
            // the first packet to arrive may not be the first sent: wait for a full window
            if self.next_ts.is_none() && !all && self.pending.len() < self.hold {
                return;
            }
            let next = *self.next_ts.get_or_insert(ts);
            if ts > next {
                if !all && self.pending.len() < self.hold {
                    return;
                }
                let gap = ts - next;
                if gap <= MAX_GAP_TICKS {
                    self.conceal_gap(gap, ts);
                }
            }
            let Some((ts, packet)) = self.pending.pop_first() else { return };
            self.decode(&packet);
            self.next_ts = Some(ts + self.last_ticks);
        }
    }

    /// Fills `gap` ticks before the packet at `ts`: PLC, then FEC for the last packet-length.
    fn conceal_gap(&mut self, gap: u64, ts: u64) {
        let step = self.last_ticks.clamp(120, 5760);
        let lost = gap.div_ceil(step);
        let fec_packet = self.pending.get(&ts).cloned();
        for i in 0..lost {
            let ticks = step.min(gap - i * step);
            let samples = self.ticks_to_samples(ticks);
            self.scratch.clear();
            let last = i + 1 == lost;
            let fec = fec_packet.as_ref().filter(|p| last && has_fec(p));
            let r = match fec {
                Some(p) => self.decoder.decode_fec(p, samples, &mut self.scratch),
                None => self.decoder.conceal(samples, &mut self.scratch),
            };
            match r {
                Ok(_) if fec.is_some() => self.stats.fec_recovered += 1,
                Ok(_) => self.stats.concealed_packets += 1,
                Err(_) => {
                    self.stats.decode_errors += 1;
                    self.scratch.resize(samples * self.spec.channels as usize, 0.0);
                }
            }
            self.append(SourceOpus::Lost);
        }
    }

    fn decode(&mut self, packet: &Bytes) {
        self.scratch.clear();
        match self.decoder.decode(packet, &mut self.scratch) {
            Ok(n) => {
                self.last_ticks = n as u64 * OPUS_CLOCK / u64::from(self.spec.sample_rate);
                let stereo = packet.first().is_some_and(|toc| toc & 0x04 != 0);
                let mark = if stereo == (self.spec.channels == 2) {
                    SourceOpus::Packet(packet.clone())
                } else {
                    SourceOpus::None
                };
                self.append(mark);
            }
            Err(_) => self.stats.decode_errors += 1,
        }
    }

    /// Appends `scratch` to the PCM, with its passthrough mark when it is one whole frame.
    fn append(&mut self, mark: SourceOpus) {
        let n = self.spec.samples_per_frame();
        if self.scratch.len() == n && self.marks.len() * n == self.pcm.len() {
            self.marks.push_back(mark);
        } else {
            self.marks.clear();
        }
        self.pcm.extend_from_slice(&self.scratch);
    }

    /// Samples per channel at the stream's rate for `ticks` of the 48 kHz RTP clock.
    fn ticks_to_samples(&self, ticks: u64) -> usize {
        (ticks * u64::from(self.spec.sample_rate) / OPUS_CLOCK) as usize
    }

    fn cut(&mut self, out: &mut Vec<(Vec<f32>, SourceOpus)>) {
        let n = self.spec.samples_per_frame();
        let mut start = 0;
        while self.pcm.len() - start >= n {
            let mark = self.marks.pop_front().unwrap_or(SourceOpus::None);
            out.push((self.pcm[start..start + n].to_vec(), mark));
            start += n;
            self.stats.frames += 1;
        }
        self.pcm.drain(..start);
    }
}

/// Whether an Opus packet carries in-band FEC (LBRR) for the frame before it, read as
/// libopus's `opus_packet_has_lbrr` does: SILK or hybrid mode, and the LBRR flag of the
/// first SILK frame (the bit after the VAD flags, in the first payload byte). Packets with
/// several Opus frames of different sizes are read as having none.
pub fn has_fec(packet: &[u8]) -> bool {
    let Some(&toc) = packet.first() else { return false };
    let config = toc >> 3;
    if config >= 16 {
        return false; // CELT only
    }
    let stereo = toc & 0x04 != 0;
    let payload = match toc & 0x03 {
        0 | 1 => packet.get(1),
        _ => None,
    };
    let Some(&b) = payload else { return false };
    // SILK frames per Opus frame: 10 and 20 ms → 1, 40 ms → 2, 60 ms → 3
    let silk_frames: u8 = match config & 0x03 {
        2 => 2,
        3 => 3,
        _ => 1,
    };
    let mut lbrr = (b >> (7 - silk_frames)) & 1;
    if stereo {
        lbrr |= (b >> (6 - 2 * silk_frames)) & 1;
    }
    lbrr == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_codec::{OpusApplication, OpusConfig, OpusEncoder};
    use ondes_core::FrameDuration;

    fn spec() -> FrameSpec {
        FrameSpec::new(16_000, 1, FrameDuration::from_ms(20.0).unwrap()).unwrap()
    }

    /// 50 packets of a 440 Hz tone at 16 kHz (SILK, where in-band FEC lives), 20 ms each.
    fn packets() -> Vec<Bytes> {
        packets_of(20_000, 50)
    }

    /// `count` packets of a 440 Hz tone at 16 kHz, `frame_us` each.
    fn packets_of(frame_us: u32, count: usize) -> Vec<Bytes> {
        let n = (frame_us / 1000 * 16) as usize;
        let mut enc = OpusEncoder::new(OpusConfig {
            sample_rate: 16_000,
            channels: 1,
            frame_us,
            bitrate_bps: 24_000,
            vbr: true,
            complexity: 5,
            fec: true,
            expected_loss_percent: 20,
            dtx: false,
            application: OpusApplication::Voip,
        })
        .unwrap();
        (0..count)
            .map(|k| {
                let pcm: Vec<f32> = (0..n)
                    .map(|i| (2.0 * std::f32::consts::PI * 440.0 * (k * n + i) as f32 / 16_000.0).sin() * 0.5)
                    .collect();
                let mut out = Vec::new();
                enc.encode(&pcm, &mut out).unwrap();
                Bytes::from(out)
            })
            .collect()
    }

    #[test]
    fn packets_without_fec_are_concealed_not_counted_as_recovered() {
        // a CELT-only packet (config 31) and a SILK packet whose LBRR flag is clear
        assert!(!has_fec(&[31 << 3, 0xff]));
        assert!(!has_fec(&[1 << 3, 0b1000_0000]));
        assert!(has_fec(&[1 << 3, 0b1100_0000]));
    }

    #[test]
    fn reordered_packets_come_out_in_order_and_whole() {
        let p = packets();
        let mut r = OpusReceiver::new(spec(), 3).unwrap();
        let mut out = Vec::new();
        // swap every pair: 1 0 3 2 …
        for k in (0..50).step_by(2) {
            r.push((k as u64 + 1) * 960, p[k + 1].clone(), false, &mut out);
            r.push(k as u64 * 960, p[k].clone(), false, &mut out);
        }
        r.flush(&mut out);
        assert_eq!(out.len(), 50);
        assert!(out.iter().all(|(_, m)| matches!(m, SourceOpus::Packet(_))), "every frame keeps its packet");
        assert_eq!(r.stats.concealed_packets + r.stats.fec_recovered, 0);
        assert_eq!(r.stats.late_packets, 0);
    }

    #[test]
    fn lost_packets_are_concealed_or_recovered_and_the_timing_kept() {
        let p = packets();
        let mut r = OpusReceiver::new(spec(), 2).unwrap();
        let mut out = Vec::new();
        for (k, pk) in p.iter().enumerate() {
            // lose every fifth packet, and a run of three
            if k % 5 == 2 || (30..33).contains(&k) {
                continue;
            }
            r.push(k as u64 * 960, pk.clone(), false, &mut out);
        }
        r.flush(&mut out);
        assert_eq!(out.len(), 50, "every frame is there, decoded, recovered or concealed");
        let lost_marks = out.iter().filter(|(_, m)| *m == SourceOpus::Lost).count();
        assert_eq!(lost_marks, 12, "lost frames are passed through as lost");
        let lost = 10 + 2; // k%5==2 below 50 (10, one of them, 32, inside the run) + the run's 3
        assert_eq!(r.stats.concealed_packets + r.stats.fec_recovered, lost as u64);
        assert!(r.stats.fec_recovered >= 9, "each gap's last frame comes from FEC: {:?}", r.stats);
        assert!(p.iter().skip(1).all(|pk| has_fec(pk)), "every packet after the first carries FEC");
        // a duplicate and a late packet are dropped and counted
        r.push(10 * 960, p[10].clone(), false, &mut out);
        assert_eq!(r.stats.late_packets, 1);
    }

    #[test]
    fn packets_of_another_duration_are_decoded_not_passed_through() {
        // 10 ms packets into a 20 ms stream: two packets make a frame, which is encoded
        let p = packets_of(10_000, 40);
        let mut r = OpusReceiver::new(spec(), 3).unwrap();
        let mut out = Vec::new();
        for (k, pk) in p.iter().enumerate() {
            r.push(k as u64 * 480, pk.clone(), false, &mut out);
        }
        r.flush(&mut out);
        assert_eq!(out.len(), 20);
        assert!(out.iter().all(|(_, m)| *m == SourceOpus::None), "no frame is one packet");
    }

    #[test]
    fn a_packet_rebuilt_from_red_is_counted_and_passed_through_like_any_other() {
        let p = packets();
        let mut r = OpusReceiver::new(spec(), 3).unwrap();
        let mut out = Vec::new();
        for k in 0..50 {
            // packet 10 lost; str0m hands it out rebuilt right after packet 12 (RED distance 2)
            match k {
                10 => continue,
                12 => {
                    r.push(12 * 960, p[12].clone(), false, &mut out);
                    r.push(10 * 960, p[10].clone(), true, &mut out);
                }
                _ => r.push(k as u64 * 960, p[k as usize].clone(), false, &mut out),
            }
        }
        r.flush(&mut out);
        assert_eq!(out.len(), 50);
        assert_eq!(out[10].1, SourceOpus::Packet(p[10].clone()), "the rebuilt packet is passed through");
        assert_eq!((r.stats.red_recovered, r.stats.concealed_packets, r.stats.fec_recovered), (1, 0, 0));
    }
}
