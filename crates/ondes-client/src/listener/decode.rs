//! Turns what the jitter buffer hands out into exactly one frame of samples per period:
//! decoded Opus, PCM, FEC-rebuilt or concealed audio.

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
}

impl FrameDecoder {
    pub fn new(layout: AudioLayout) -> Self {
        let samples_per_channel =
            (u64::from(layout.sample_rate) * u64::from(layout.frame_us) / 1_000_000) as usize;
        FrameDecoder { layout, samples_per_channel, opus: None, decode_errors: 0 }
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
            FrameData::Pcm(samples) => out.extend_from_slice(samples),
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
    /// has been Opus (it extrapolates and fades), silence for PCM.
    pub fn conceal(&mut self, out: &mut Vec<f32>) -> Result<(), ListenError> {
        let start = out.len();
        let spc = self.samples_per_channel;
        if let Some(opus) = self.opus.as_mut()
            && opus.conceal(spc, out).is_err()
        {
            out.truncate(start);
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
    fn every_call_appends_one_frame() {
        let mut d = FrameDecoder::new(LAYOUT);
        let mut out = Vec::new();
        d.conceal(&mut out).unwrap();
        assert_eq!(out, vec![0.0; 1920], "silence before any Opus");
        d.play(&FrameData::Pcm(vec![0.5; 10]), &mut out).unwrap();
        assert_eq!(out.len(), 2 * 1920);
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
