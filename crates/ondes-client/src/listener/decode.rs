//! Turns what the jitter buffer hands out into exactly one frame of samples per period:
//! decoded Opus, PCM, FEC-rebuilt or concealed audio.
//!
//! Concealment is Opus's own packet-loss concealment once the stream has been Opus. For PCM
//! the last frame is repeated, fading out (each repetition at half the level of the one
//! before, a ramp within the frame so it does not stop on a step), then silence: a tone or
//! a vowel carries on through a short gap instead of dropping out, and a long gap goes quiet.

use ondes_codec::OpusDecoder;

use super::ListenError;
use super::lbrr::has_lbrr;
use super::transport::{AudioLayout, FrameData};

/// Decoder state of one stream. Every method appends exactly one frame
/// (`samples_per_channel × channels` samples), whatever happened, so that the output's
/// length is the number of frame periods played.
pub struct FrameDecoder {
    layout: AudioLayout,
    samples_per_channel: usize,
    /// Made at the first Opus packet (a PCM rung never needs one).
    opus: Option<OpusDecoder>,
    /// Opus packets that failed to decode (concealed instead).
    pub decode_errors: u64,
    /// The last PCM frame played, for concealment.
    last_pcm: Vec<f32>,
    /// PCM concealments since the last frame played.
    pcm_repeats: u32,
}

/// PCM repetitions before concealment is silence (the level is then below 1/64).
const PCM_REPEATS: u32 = 6;

impl FrameDecoder {
    pub fn new(layout: AudioLayout) -> Self {
        let samples_per_channel =
            (u64::from(layout.sample_rate) * u64::from(layout.frame_us) / 1_000_000) as usize;
        FrameDecoder {
            layout,
            samples_per_channel,
            opus: None,
            decode_errors: 0,
            last_pcm: Vec::new(),
            pcm_repeats: 0,
        }
    }

    fn frame_len(&self) -> usize {
        self.samples_per_channel * usize::from(self.layout.channels)
    }

    fn opus(&mut self) -> Result<&mut OpusDecoder, ListenError> {
        let decoder = match self.opus.take() {
            Some(d) => d,
            None => OpusDecoder::new(self.layout.sample_rate, self.layout.channels)?,
        };
        Ok(self.opus.insert(decoder))
    }

    /// A frame that arrived.
    pub fn play(&mut self, data: &FrameData, out: &mut Vec<f32>) -> Result<(), ListenError> {
        let start = out.len();
        match data {
            FrameData::Pcm(samples) => {
                out.extend_from_slice(samples);
                self.fit(start, out);
                self.last_pcm.clear();
                self.last_pcm.extend_from_slice(&out[start..]);
                self.pcm_repeats = 0;
                return Ok(());
            }
            // the server had no packet for this frame: conceal
            FrameData::Opus(p) if p.is_empty() => return self.conceal(out),
            FrameData::Opus(p) => {
                let spc = self.samples_per_channel;
                let opus = self.opus()?;
                if opus.decode(p, out).is_err() {
                    out.truncate(start);
                    self.decode_errors += 1;
                    self.opus()?.conceal(spc, out)?;
                }
            }
        }
        self.fit(start, out);
        Ok(())
    }

    /// A lost frame: rebuilt from the in-band FEC of `next` when it carries some, else
    /// concealed. Returns whether FEC rebuilt it.
    pub fn recover(&mut self, next: Option<&FrameData>, out: &mut Vec<f32>) -> Result<bool, ListenError> {
        if let Some(FrameData::Opus(p)) = next
            && has_lbrr(p)
        {
            let start = out.len();
            let spc = self.samples_per_channel;
            if self.opus()?.decode_fec(p, spc, out).is_ok() {
                self.fit(start, out);
                return Ok(true);
            }
            out.truncate(start);
        }
        self.conceal(out)?;
        Ok(false)
    }

    /// A frame period with nothing to play: Opus packet-loss concealment once the stream
    /// has been Opus (it extrapolates and fades), a fading repetition for PCM.
    pub fn conceal(&mut self, out: &mut Vec<f32>) -> Result<(), ListenError> {
        let start = out.len();
        let spc = self.samples_per_channel;
        match self.opus.as_mut() {
            // on error the decoder leaves `out` as it was, and fit() pads with silence
            Some(opus) => _ = opus.conceal(spc, out),
            None if self.pcm_repeats < PCM_REPEATS && !self.last_pcm.is_empty() => {
                let channels = usize::from(self.layout.channels);
                let from = 0.5f32.powi(self.pcm_repeats as i32);
                let n = self.last_pcm.len() / channels;
                out.extend(self.last_pcm.iter().enumerate().map(|(i, &x)| {
                    // from `from` down to half of it across the frame
                    let t = (i / channels) as f32 / n as f32;
                    x * from * (1.0 - 0.5 * t)
                }));
                self.pcm_repeats += 1;
            }
            None => {}
        }
        self.fit(start, out);
        Ok(())
    }

    /// Makes the audio appended since `start` exactly one frame long (zero-padded or cut):
    /// a packet of another duration must not shift the rest of the output.
    fn fit(&self, start: usize, out: &mut Vec<f32>) {
        out.resize(start + self.frame_len(), 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_codec::{OpusConfig, OpusEncoder};

    const LAYOUT: AudioLayout = AudioLayout { sample_rate: 48_000, channels: 2, frame_us: 20_000 };

    #[test]
    fn pcm_concealment_repeats_and_fades_out() {
        let layout = AudioLayout { sample_rate: 8_000, channels: 1, frame_us: 10_000 };
        let mut d = FrameDecoder::new(layout);
        let mut out = Vec::new();
        d.play(&FrameData::Pcm(vec![0.8; 80]), &mut out).unwrap();
        for _ in 0..8 {
            d.conceal(&mut out).unwrap();
        }
        let level = |k: usize| out[k * 80];
        assert_eq!(level(1), 0.8, "first repetition starts at full level");
        assert!((out[159] - 0.4).abs() < 0.01, "and ends at half: {}", out[159]);
        assert!((level(2) - 0.4).abs() < 1e-6 && (level(3) - 0.2).abs() < 1e-6);
        assert!(out[7 * 80..].iter().all(|&x| x == 0.0), "silence after six repetitions");
        // a real frame resets the fade
        d.play(&FrameData::Pcm(vec![0.8; 80]), &mut out).unwrap();
        d.conceal(&mut out).unwrap();
        assert_eq!(out[10 * 80], 0.8);
    }

    #[test]
    fn a_lost_frame_is_rebuilt_from_the_next_packets_fec() {
        let cfg = OpusConfig {
            sample_rate: 16_000,
            channels: 1,
            bitrate_bps: 24_000,
            application: ondes_codec::OpusApplication::Voip,
            fec: true,
            expected_loss_percent: 20,
            ..OpusConfig::default()
        };
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let packets: Vec<Vec<u8>> = crate::listener::lbrr::speech_like(16_000, 1.0)
            .chunks_exact(320)
            .map(|pcm| {
                let mut p = Vec::new();
                enc.encode(pcm, &mut p).unwrap();
                p
            })
            .collect();
        // a frame near the loudest point of a syllable (the envelope peaks at frame 20)
        let k = (19..packets.len()).find(|&k| has_lbrr(&packets[k])).expect("a packet with FEC");
        let mut reference = Vec::new();
        let mut plain = ondes_codec::OpusDecoder::new(16_000, 1).unwrap();
        for p in &packets[..k] {
            plain.decode(p, &mut reference).unwrap();
        }
        let energy = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>();
        let layout = AudioLayout { sample_rate: 16_000, channels: 1, frame_us: 20_000 };
        let mut d = FrameDecoder::new(layout);
        let mut out = Vec::new();
        for p in &packets[..k - 1] {
            d.play(&FrameData::Opus(p.clone()), &mut out).unwrap();
        }
        // packet k-1 is lost; packet k carries its FEC
        assert!(d.recover(Some(&FrameData::Opus(packets[k].clone())), &mut out).unwrap());
        d.play(&FrameData::Opus(packets[k].clone()), &mut out).unwrap();
        assert_eq!(out.len(), (k + 1) * 320);
        let (rebuilt, original) = (energy(&out[(k - 1) * 320..k * 320]), energy(&reference[(k - 1) * 320..]));
        assert!(rebuilt > 0.3 * original, "rebuilt frame energy {rebuilt} vs original {original}");
        // without a next packet, or with one lacking FEC, it is concealment
        assert!(!d.recover(None, &mut out).unwrap());
    }

    #[test]
    fn every_call_appends_one_frame() {
        let mut d = FrameDecoder::new(LAYOUT);
        let mut out = Vec::new();
        d.conceal(&mut out).unwrap();
        assert_eq!(out, vec![0.0; 1920], "silence before any audio");
        d.play(&FrameData::Pcm(vec![0.5; 10]), &mut out).unwrap();
        assert_eq!(out.len(), 2 * 1920);
        assert_eq!(&out[1920..1930], &[0.5; 10]);
        let mut enc = OpusEncoder::new(OpusConfig::default()).unwrap();
        let mut packet = Vec::new();
        let tone: Vec<f32> = (0..1920).map(|i| ((i / 2) as f32 * 0.05).sin() * 0.5).collect();
        enc.encode(&tone, &mut packet).unwrap();
        d.play(&FrameData::Opus(packet.clone()), &mut out).unwrap();
        d.play(&FrameData::Opus(Vec::new()), &mut out).unwrap();
        d.play(&FrameData::Opus(vec![0xff, 0xff, 0xff]), &mut out).unwrap();
        assert!(!d.recover(Some(&FrameData::Opus(packet)), &mut out).unwrap(), "CELT carries no FEC");
        d.recover(None, &mut out).unwrap();
        assert_eq!(out.len(), 7 * 1920);
        assert_eq!(d.decode_errors, 1);
    }
}
