//! SSE serialisation of audio frames, made once per frame and format and shared.
//!
//! The JSON puts the small metadata fields first (`frame_number`, `timestamp`, …) and the
//! sample arrays last, so that clients that only need the metadata (load generators,
//! monitors) can read it from the first bytes of the line. Samples are written with five
//! decimals: that is finer than 16-bit resolution (1/32768 ≈ 0.00003) and keeps a 48 kHz
//! stereo frame around 15 KB instead of 40 KB with full `f32` precision.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;

use crate::hub::{HubFrame, StreamHub};

/// The `format` query parameter of the SSE endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseFormat {
    /// Float arrays `channel_a` / `channel_b`.
    Json,
    /// Float arrays after a further anti-aliased 2:1 decimation.
    Lightweight,
    /// Base64 of interleaved s16le in field `pcm16`.
    Pcm16,
}

impl SseFormat {
    /// The format named `s` (`json`, `lightweight`, `pcm16`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(SseFormat::Json),
            "lightweight" => Some(SseFormat::Lightweight),
            "pcm16" => Some(SseFormat::Pcm16),
            _ => None,
        }
    }

    pub fn id(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            SseFormat::Json => "json",
            SseFormat::Lightweight => "lightweight",
            SseFormat::Pcm16 => "pcm16",
        }
    }

    /// Decimation this format adds on top of the stream's quality setting.
    pub fn extra_factor(self) -> usize {
        match self {
            SseFormat::Lightweight => 2,
            _ => 1,
        }
    }
}

/// A complete SSE event (`event:`/`id:` optional), terminated by a blank line.
pub fn sse_event(event: Option<&str>, id: Option<&str>, data: &str) -> Bytes {
    let mut s = String::with_capacity(data.len() + 48);
    if let Some(e) = event {
        s.push_str("event: ");
        s.push_str(e);
        s.push('\n');
    }
    if let Some(i) = id {
        s.push_str("id: ");
        s.push_str(i);
        s.push('\n');
    }
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    Bytes::from(s)
}

/// Samples of channel `ch` of a group of frames, decimated by `factor`.
fn channel_samples(hub: &StreamHub, group: &[Arc<HubFrame>], ch: usize, factor: usize, out: &mut Vec<f32>) {
    let channels = hub.spec.channels as usize;
    let ch = ch.min(channels - 1);
    if factor == 1 {
        for f in group {
            out.extend(f.frame.samples.iter().skip(ch).step_by(channels));
        }
        return;
    }
    let dec = hub.decimator(factor);
    let spc = hub.spec.samples_per_channel() as u64;
    for f in group {
        dec.process(f.prev.as_deref(), &f.frame.samples, channels, ch, f.frame.seq * spc, out);
    }
}

/// Appends `x` with at most five decimals, trailing zeros trimmed (`0.5`, `-0.01234`, `0`).
fn push_sample(buf: &mut Vec<u8>, x: f32) {
    let v = (x.clamp(-1.0, 1.0) as f64 * 100_000.0).round() as i32;
    if v < 0 {
        buf.push(b'-');
    }
    let v = v.unsigned_abs();
    let (int, mut frac) = (v / 100_000, v % 100_000);
    buf.push(b'0' + int as u8);
    if frac == 0 {
        return;
    }
    buf.push(b'.');
    let mut digits = [b'0'; 5];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    let len = 5 - digits.iter().rev().take_while(|&&d| d == b'0').count();
    buf.extend_from_slice(&digits[..len]);
}

fn push_array(buf: &mut Vec<u8>, samples: &[f32]) {
    buf.push(b'[');
    for (i, &s) in samples.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        push_sample(buf, s);
    }
    buf.push(b']');
}

fn push_num(buf: &mut Vec<u8>, key: &str, n: impl itoa::Integer) {
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The `audio-frame` SSE event for a group of consecutive frames (one frame unless the
/// listener asked for `max_fps`), at decimation `factor` (quality × format).
pub fn audio_event(hub: &StreamHub, group: &[Arc<HubFrame>], format: SseFormat, factor: usize) -> Bytes {
    let first = &group[0].frame;
    let last = &group[group.len() - 1].frame;
    let rate = hub.spec.sample_rate / factor as u32;
    let duration_ms = hub.spec.duration.as_ms_f64() * group.len() as f64;
    let mut a = Vec::with_capacity(hub.spec.samples_per_channel() * group.len() / factor + 1);
    channel_samples(hub, group, 0, factor, &mut a);
    let mut b = Vec::with_capacity(a.len());
    channel_samples(hub, group, 1, factor, &mut b);

    let mut buf = Vec::with_capacity(64 + a.len() * 18);
    buf.extend_from_slice(b"event: audio-frame\nid: frame-");
    buf.extend_from_slice(itoa::Buffer::new().format(last.seq).as_bytes());
    push_num(&mut buf, "\ndata: {\"frame_number\":", first.seq);
    push_num(&mut buf, ",\"timestamp\":", first.capture_us / 1000);
    push_num(&mut buf, ",\"capture_us\":", first.capture_us);
    push_num(&mut buf, ",\"sample_rate\":", rate);
    push_num(&mut buf, ",\"channels\":", hub.spec.channels);
    buf.extend_from_slice(format!(",\"duration_ms\":{duration_ms:?}").as_bytes());
    push_num(&mut buf, ",\"frames\":", group.len());
    buf.extend_from_slice(b",\"format\":\"");
    buf.extend_from_slice(format.name().as_bytes());
    buf.push(b'"');
    match format {
        SseFormat::Json | SseFormat::Lightweight => {
            buf.extend_from_slice(b",\"channel_a\":");
            push_array(&mut buf, &a);
            buf.extend_from_slice(b",\"channel_b\":");
            push_array(&mut buf, &b);
        }
        SseFormat::Pcm16 => {
            let channels = hub.spec.channels as usize;
            let mut inter = Vec::with_capacity(a.len() * channels);
            for i in 0..a.len() {
                inter.push(a[i]);
                if channels > 1 {
                    inter.push(b[i]);
                }
            }
            let mut pcm = Vec::with_capacity(inter.len() * 2);
            ondes_codec::encode_s16le(&inter, &mut pcm);
            buf.extend_from_slice(b",\"pcm16\":\"");
            // encode straight into the event buffer (no intermediate String)
            let start = buf.len();
            let len = base64::encoded_len(pcm.len(), true).unwrap_or(0);
            buf.resize(start + len, 0);
            let written =
                base64::engine::general_purpose::STANDARD.encode_slice(&pcm, &mut buf[start..]).unwrap_or(0);
            buf.truncate(start + written);
            buf.push(b'"');
        }
    }
    buf.extend_from_slice(b"}\n\n");
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(x: f32) -> String {
        let mut b = Vec::new();
        push_sample(&mut b, x);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn sample_formatting() {
        assert_eq!(fmt(0.0), "0");
        assert_eq!(fmt(0.5), "0.5");
        assert_eq!(fmt(-0.012345), "-0.01235");
        assert_eq!(fmt(1.0), "1");
        assert_eq!(fmt(-2.0), "-1");
        assert_eq!(fmt(0.00001), "0.00001");
        assert_eq!(fmt(-0.000001), "0");
        for x in [-0.99999f32, -0.3, 0.123456, 0.7] {
            let back: f32 = fmt(x).parse().unwrap();
            assert!((back - x).abs() <= 0.000005 + 1e-7);
        }
    }

    #[test]
    fn sse_event_splits_lines() {
        let e = sse_event(Some("status"), None, "a\nb");
        assert_eq!(&e[..], b"event: status\ndata: a\ndata: b\n\n");
    }
}
