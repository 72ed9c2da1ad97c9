//! MP3 for legacy Icecast players: LAME (through `mp3lame-encoder`, which builds LAME 3.100
//! from source and links it statically), constant bitrate, no Xing/LAME tag frame (a live
//! stream has no length to put in it).
//!
//! MP3 (MPEG-1 Layer III) codes 32, 44.1 and 48 kHz; a stream at another rate is resampled
//! to 48 kHz with [`StreamResampler`] first. More than two channels are mixed down to the
//! first two ([`crate::remix`]), mono stays mono.
//!
//! LAME codes 1152-sample granule pairs and holds back some audio (its look-ahead), so one
//! stream frame in gives zero, one or two MP3 frames out; the bytes of successive calls
//! concatenate to a valid MP3 stream.

use mp3lame_encoder::{Bitrate, Builder, Encoder, InterleavedPcm, Mode, MonoPcm, Quality, VbrMode};

use crate::{CodecError, StreamResampler, remix};

/// The constant bitrates offered, kbit/s (MPEG-1 Layer III's, less 56 which LAME's binding
/// does not name).
pub const MP3_BITRATES: [u32; 13] = [32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
/// The bitrate a listener gets when it names none.
pub const MP3_DEFAULT_KBPS: u32 = 128;

/// The MPEG-1 rate a stream of `sample_rate` is coded at: its own when MP3 has it, else 48 kHz.
pub fn mp3_output_rate(sample_rate: u32) -> u32 {
    if [32_000, 44_100, 48_000].contains(&sample_rate) { sample_rate } else { 48_000 }
}

fn bitrate(kbps: u32) -> Option<Bitrate> {
    Some(match kbps {
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => return None,
    })
}

/// One MP3 encoder for a stream's layout at one bitrate.
pub struct Mp3Encoder {
    lame: Encoder,
    in_channels: usize,
    out_channels: usize,
    kbps: u32,
    resampler: Option<StreamResampler>,
    mixed: Vec<f32>,
    resampled: Vec<f32>,
}

impl Mp3Encoder {
    /// An encoder for interleaved `channels`-channel audio at `sample_rate`, coding `kbps`
    /// (one of [`MP3_BITRATES`]).
    pub fn new(sample_rate: u32, channels: u16, kbps: u32) -> Result<Self, CodecError> {
        let brate = bitrate(kbps).ok_or_else(|| {
            CodecError::Mp3(format!("{kbps} kbit/s is not an MP3 bitrate; use one of {MP3_BITRATES:?}"))
        })?;
        if channels == 0 || sample_rate == 0 {
            return Err(CodecError::InvalidParameter(format!(
                "MP3 of {channels} channels at {sample_rate} Hz"
            )));
        }
        let out_channels = usize::from(channels.min(2));
        let out_rate = mp3_output_rate(sample_rate);
        let resampler = if out_rate == sample_rate {
            None
        } else {
            Some(StreamResampler::new(sample_rate, out_rate, out_channels)?)
        };
        let err = |e: mp3lame_encoder::BuildError| CodecError::Mp3(format!("LAME settings: {e}"));
        let mut b =
            Builder::new().ok_or_else(|| CodecError::Mp3("LAME could not allocate an encoder".into()))?;
        b.set_num_channels(out_channels as u8).map_err(err)?;
        b.set_sample_rate(out_rate).map_err(err)?;
        b.set_output_sample_rate(std::num::NonZeroU32::new(out_rate)).map_err(err)?;
        b.set_vbr_mode(VbrMode::Off).map_err(err)?;
        b.set_brate(brate).map_err(err)?;
        b.set_mode(if out_channels == 1 { Mode::Mono } else { Mode::JointStereo }).map_err(err)?;
        // LAME's -q 5: its default speed/quality trade-off for CBR (-q 2 costs twice the CPU
        // for a difference few hear at 128 kbit/s and above)
        b.set_quality(Quality::Good).map_err(err)?;
        b.set_to_write_vbr_tag(false).map_err(err)?;
        let lame = b.build().map_err(err)?;
        Ok(Mp3Encoder {
            lame,
            in_channels: usize::from(channels),
            out_channels,
            kbps,
            resampler,
            mixed: Vec::new(),
            resampled: Vec::new(),
        })
    }

    pub fn kbps(&self) -> u32 {
        self.kbps
    }

    /// The rate the MP3 frames carry.
    pub fn output_rate(&self) -> u32 {
        self.resampler.as_ref().map_or_else(|| self.lame.sample_rate(), StreamResampler::to_rate)
    }

    /// Codes interleaved `pcm` (any number of whole sample frames), appending the MP3 bytes
    /// that are ready to `out`; returns how many were appended (often 0 or one frame's).
    pub fn encode(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        self.mixed.clear();
        remix(pcm, self.in_channels, self.out_channels, &mut self.mixed);
        let input: &[f32] = match self.resampler.as_mut() {
            None => &self.mixed,
            Some(r) => {
                r.push(&self.mixed);
                self.resampled.clear();
                r.pop_up_to(r.available(), &mut self.resampled);
                &self.resampled
            }
        };
        let frames = input.len() / self.out_channels;
        out.reserve(mp3lame_encoder::max_required_buffer_size(frames));
        let r = if self.out_channels == 1 {
            self.lame.encode_to_vec(MonoPcm(input), out)
        } else {
            self.lame.encode_to_vec(InterleavedPcm(input), out)
        };
        let n = r.map_err(|e| CodecError::Mp3(format!("LAME could not encode: {e}")))?;
        Ok(n)
    }
}

/// Where the first MP3 frame header in `b` starts (an MPEG audio sync word with a valid
/// layer III header), so that a listener joining mid-stream starts on a frame.
pub fn first_frame_start(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| {
        w[0] == 0xFF
            && (w[1] & 0xE0) == 0xE0
            && (w[1] >> 3) & 0x03 != 0x01 // MPEG version not reserved
            && (w[1] >> 1) & 0x03 == 0x01 // layer III
            && (w[2] >> 4) != 0x0F // bitrate index not "bad"
            && (w[2] >> 4) != 0x00 // and not free format
            && (w[2] >> 2) & 0x03 != 0x03 // sample rate not reserved
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(frames: usize, channels: usize, rate: f32) -> Vec<f32> {
        (0..frames * channels)
            .map(|i| ((i / channels) as f32 * 440.0 * std::f32::consts::TAU / rate).sin() * 0.5)
            .collect()
    }

    #[test]
    fn codes_a_second_at_about_the_bitrate() {
        let mut e = Mp3Encoder::new(48_000, 2, 128).unwrap();
        let mut out = Vec::new();
        let pcm = tone(960, 2, 48_000.0);
        for _ in 0..50 {
            e.encode(&pcm, &mut out).unwrap();
        }
        // a second in, less LAME's look-ahead out
        assert!((12_000..=16_500).contains(&out.len()), "{} bytes", out.len());
        assert_eq!(first_frame_start(&out), Some(0), "output starts on a frame");
        assert_eq!(out[1] & 0xFE, 0xFA, "MPEG-1 layer III");
    }

    #[test]
    fn other_rates_and_layouts_are_converted() {
        let mut e = Mp3Encoder::new(16_000, 6, 64).unwrap();
        assert_eq!(e.output_rate(), 48_000);
        let mut out = Vec::new();
        for _ in 0..50 {
            e.encode(&tone(320, 6, 16_000.0), &mut out).unwrap();
        }
        assert!(out.len() > 4_000, "{} bytes", out.len());
        assert!(Mp3Encoder::new(48_000, 2, 100).is_err());
    }
}
