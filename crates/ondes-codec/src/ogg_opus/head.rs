//! The two Ogg/Opus header packets, `OpusHead` and `OpusTags` (RFC 7845 §5).

use crate::CodecError;

/// The identification header (RFC 7845 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Format version; readers accept any with major version 0 (values 0–15).
    pub version: u8,
    /// Output channel count.
    pub channels: u8,
    /// 48 kHz samples to drop at the start of decoding (the encoder's look-ahead).
    pub pre_skip: u16,
    /// Sample rate of the original input, for information only: Opus always decodes at
    /// 8/12/16/24/48 kHz.
    pub input_sample_rate: u32,
    /// Gain to apply to the decoded audio, in dB, Q7.8 fixed point.
    pub output_gain_q8: i16,
    /// Channel mapping family: 0 (mono/stereo, one stream) or 1 (Vorbis order); this crate
    /// decodes one coupled or uncoupled stream, i.e. 1 or 2 channels.
    pub mapping_family: u8,
}

impl OpusHead {
    /// A version-1, family-0 header.
    pub fn new(channels: u8, input_sample_rate: u32, pre_skip: u16) -> Self {
        OpusHead { version: 1, channels, pre_skip, input_sample_rate, output_gain_q8: 0, mapping_family: 0 }
    }

    /// The header packet (19 bytes for family 0; family 1 adds its one-stream mapping table).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(21 + usize::from(self.channels));
        out.extend_from_slice(b"OpusHead");
        out.push(self.version);
        out.push(self.channels);
        out.extend_from_slice(&self.pre_skip.to_le_bytes());
        out.extend_from_slice(&self.input_sample_rate.to_le_bytes());
        out.extend_from_slice(&self.output_gain_q8.to_le_bytes());
        out.push(self.mapping_family);
        if self.mapping_family != 0 {
            out.push(1); // stream count
            out.push(self.channels.saturating_sub(1)); // coupled streams
            out.extend(0..self.channels);
        }
        out
    }

    /// Parses and checks an `OpusHead` packet.
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        let bad = |why: String| Err(CodecError::OggOpus(why));
        if !data.starts_with(b"OpusHead") {
            return bad("the first packet is not an OpusHead header".to_owned());
        }
        if data.len() < 19 {
            return bad(format!("OpusHead is {} bytes, shorter than the 19 required", data.len()));
        }
        let head = OpusHead {
            version: data[8],
            channels: data[9],
            pre_skip: u16::from_le_bytes([data[10], data[11]]),
            input_sample_rate: u32::from_le_bytes([data[12], data[13], data[14], data[15]]),
            output_gain_q8: i16::from_le_bytes([data[16], data[17]]),
            mapping_family: data[18],
        };
        if head.version >> 4 != 0 {
            return bad(format!(
                "OpusHead version {} is incompatible (major version is not 0)",
                head.version
            ));
        }
        if head.channels == 0 {
            return bad("OpusHead declares 0 channels".to_owned());
        }
        match head.mapping_family {
            0 if head.channels <= 2 => {}
            0 => return bad(format!("OpusHead family 0 with {} channels (at most 2)", head.channels)),
            1 if head.channels <= 2 => {
                let table = data.get(19..21 + usize::from(head.channels));
                let expected_coupled = head.channels - 1;
                if table.is_none_or(|t| t[0] != 1 || t[1] != expected_coupled) {
                    return bad("OpusHead family 1 mapping table is missing or not one stream".to_owned());
                }
            }
            family => {
                return bad(format!(
                    "{} channels with channel mapping family {family}: multistream Opus is not supported \
                     (only mono and stereo)",
                    head.channels
                ));
            }
        }
        Ok(head)
    }

    /// The output gain as a linear factor.
    pub fn gain_factor(&self) -> f32 {
        10f32.powf(f32::from(self.output_gain_q8) / (20.0 * 256.0))
    }
}

/// The comment header (RFC 7845 §5.2): vendor string and `KEY=value` comments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpusTags {
    pub vendor: String,
    pub comments: Vec<String>,
}

impl OpusTags {
    /// The header packet.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"OpusTags");
        let put = |out: &mut Vec<u8>, s: &str| {
            // Strings longer than 4 GiB are not meaningful tags; saturate rather than wrap.
            out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        put(&mut out, &self.vendor);
        out.extend_from_slice(&u32::try_from(self.comments.len()).unwrap_or(u32::MAX).to_le_bytes());
        for c in &self.comments {
            put(&mut out, c);
        }
        out
    }

    /// Parses an `OpusTags` packet; strings that are not UTF-8 are converted lossily.
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        let Some(mut rest) = data.strip_prefix(b"OpusTags") else {
            return Err(CodecError::OggOpus("the second packet is not an OpusTags header".to_owned()));
        };
        let vendor = take_string(&mut rest, "vendor string")?;
        let count = take_u32(&mut rest, "comment count")?;
        let mut comments = Vec::new();
        for _ in 0..count {
            // Each comment needs at least its 4-byte length, so `count` cannot make us loop
            // (or allocate) beyond what the packet holds.
            comments.push(take_string(&mut rest, "comments")?);
        }
        Ok(OpusTags { vendor, comments })
    }
}

fn take_u32(rest: &mut &[u8], what: &str) -> Result<u32, CodecError> {
    let Some((n, tail)) = rest.split_first_chunk::<4>() else {
        return Err(CodecError::OggOpus(format!("OpusTags truncated in its {what}")));
    };
    *rest = tail;
    Ok(u32::from_le_bytes(*n))
}

fn take_string(rest: &mut &[u8], what: &str) -> Result<String, CodecError> {
    let len = take_u32(rest, what)? as usize;
    if rest.len() < len {
        return Err(CodecError::OggOpus(format!("OpusTags truncated in its {what}")));
    }
    let (s, tail) = rest.split_at(len);
    *rest = tail;
    Ok(String::from_utf8_lossy(s).into_owned())
}
