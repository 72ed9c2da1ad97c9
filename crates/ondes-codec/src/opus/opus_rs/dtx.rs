//! Discontinuous transmission (DTX) for the opus-rs engine, decided outside opus-rs.
//!
//! opus-rs has no DTX, so this follows libopus 1.4+'s `decide_dtx_mode`: after 200 ms without
//! activity the encoder sends packets of only a TOC byte, which every decoder (libopus, ffmpeg,
//! ours) treats as "no data" and fills with concealment / comfort noise; every 400 ms of DTX
//! one real packet goes out so the receiver's comfort noise follows the background. The encoder
//! still codes every frame, so its state is continuous when speech comes back.
//!
//! What differs from libopus is the activity decision. libopus asks its tonality analysis or
//! SILK's VAD, neither of which opus-rs exposes; here a frame is inactive when its mean energy
//! is below an absolute floor (−60 dBFS, digital near-silence) or more than 35 dB below the
//! recent peak energy (a quiet background under speech or music). The peak decays slowly
//! (−0.2 dB/s, libopus's 0.999 per 20 ms), so quiet passages of real programme material keep
//! being sent; the price is that a uniformly loud noise is never treated as silence.

/// Below this mean-square energy a frame is silence (−60 dBFS RMS).
const ABSOLUTE_FLOOR: f32 = 1e-6;
/// A frame more than this factor below the recent peak energy is background (35 dB).
const RELATIVE_FLOOR: f32 = 3.162e-4;
/// Inactive time before DTX starts (libopus: `NB_SPEECH_FRAMES_BEFORE_DTX` × 20 ms).
const HANGOVER_US: u32 = 200_000;
/// Longest run of TOC-only packets before a refresh packet (libopus: `MAX_CONSECUTIVE_DTX` × 20 ms).
const MAX_DTX_US: u32 = 400_000;

/// The per-encoder DTX state.
#[derive(Debug, Clone, Default)]
pub struct DtxState {
    /// Time since the last active frame, in µs (libopus's `nb_no_activity_ms_Q1`).
    inactive_us: u32,
    /// Decaying maximum of the frames' mean-square energy.
    peak_energy: f32,
}

impl DtxState {
    /// Classifies one interleaved frame of `frame_us` and says whether it should be sent as a
    /// TOC-only packet.
    pub fn should_skip(&mut self, pcm: &[f32], frame_us: u32) -> bool {
        let energy =
            if pcm.is_empty() { 0.0 } else { pcm.iter().map(|s| s * s).sum::<f32>() / pcm.len() as f32 };
        self.peak_energy = (self.peak_energy * 0.999f32.powf(frame_us as f32 / 20_000.0)).max(energy);
        let active = energy >= ABSOLUTE_FLOOR && energy >= self.peak_energy * RELATIVE_FLOOR;
        if active {
            self.inactive_us = 0;
            return false;
        }
        self.inactive_us = self.inactive_us.saturating_add(frame_us);
        if self.inactive_us <= HANGOVER_US {
            return false;
        }
        if self.inactive_us <= HANGOVER_US + MAX_DTX_US {
            return true;
        }
        // A refresh packet, then a new run of DTX.
        self.inactive_us = HANGOVER_US;
        false
    }
}

/// Cuts the packet of `len` bytes at the start of `buf` to the shortest valid packet with the
/// same TOC and no coded data, returning its new length: what a DTX frame is sent as. Codes 0
/// and 1 need only the TOC; code 2 needs its first frame length (0) and code 3 its frame count
/// (with the VBR and padding flags cleared), RFC 6716 §3.2.
pub fn toc_only_in_place(buf: &mut [u8], len: usize) -> usize {
    if len == 0 || buf.is_empty() {
        return 0;
    }
    match buf[0] & 0x03 {
        2 if buf.len() >= 2 => {
            buf[1] = 0;
            2
        }
        3 if buf.len() >= 2 => {
            buf[1] = if len >= 2 { buf[1] & 0x3F } else { 1 };
            2
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_sent_for_200_ms_then_skipped_with_a_refresh_every_400_ms() {
        let mut dtx = DtxState::default();
        let silence = vec![0.0f32; 960];
        let skipped: Vec<bool> = (0..60).map(|_| dtx.should_skip(&silence, 20_000)).collect();
        // frames 0..10 (200 ms) are sent, 10..30 skipped, 30 sent (refresh), 31..51 skipped ...
        assert!(skipped[..10].iter().all(|s| !s));
        assert!(skipped[10..30].iter().all(|s| *s));
        assert!(!skipped[30]);
        assert!(skipped[31..51].iter().all(|s| *s));
        assert!(!skipped[51]);
    }

    #[test]
    fn loud_frames_reset_the_hangover() {
        let mut dtx = DtxState::default();
        let silence = vec![0.0f32; 960];
        let tone: Vec<f32> = (0..960).map(|i| (i as f32 * 0.1).sin() * 0.3).collect();
        for _ in 0..20 {
            dtx.should_skip(&silence, 20_000);
        }
        assert!(dtx.should_skip(&silence, 20_000));
        assert!(!dtx.should_skip(&tone, 20_000));
        assert!(!dtx.should_skip(&silence, 20_000), "hangover starts again after activity");
    }

    #[test]
    fn background_35_db_below_the_peak_is_inactive() {
        let mut dtx = DtxState::default();
        let loud: Vec<f32> = (0..960).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
        let hum: Vec<f32> = loud.iter().map(|s| s * 0.01).collect(); // −40 dB, above −60 dBFS
        dtx.should_skip(&loud, 20_000);
        let skipped = (0..20).filter(|_| dtx.should_skip(&hum, 20_000)).count();
        assert_eq!(skipped, 10, "after the 200 ms hangover the hum is not sent");
    }

    #[test]
    fn toc_only_packets_keep_the_toc_and_frame_count() {
        let cut = |packet: &[u8]| {
            let mut buf = packet.to_vec();
            let n = toc_only_in_place(&mut buf, packet.len());
            buf[..n].to_vec()
        };
        assert_eq!(cut(&[0x78, 1, 2, 3]), [0x78]);
        assert_eq!(cut(&[0x79, 1, 2]), [0x79]);
        assert_eq!(cut(&[0x7A, 5, 1, 2]), [0x7A, 0]);
        assert_eq!(cut(&[0x7B, 0xC3, 9, 9]), [0x7B, 0x03]);
    }
}
