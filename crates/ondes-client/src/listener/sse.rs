//! The Server-Sent Events transport: `audio-frame` events with float arrays (`json`,
//! `lightweight`) or base64 s16le (`pcm16`).

use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use ondes_core::proto::control::Status;
use ondes_core::proto::sse::{SseEvent, SseParser};
use serde::Deserialize;

use super::ListenError;
use super::transport::{AudioLayout, FrameData, Incoming, RxFrame, notice};
use crate::tls::{TlsOptions, explain};

pub struct SseConnection {
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: SseParser,
    bytes: u64,
    messages: u64,
}

/// The `audio-frame` event's data (extra fields ignored).
#[derive(Debug, Deserialize)]
struct AudioEvent {
    frame_number: u64,
    capture_us: Option<i64>,
    /// Capture time in ms, for servers that do not send `capture_us`.
    timestamp: Option<i64>,
    sample_rate: u32,
    channels: Option<u16>,
    duration_ms: f64,
    frames: Option<u32>,
    format: Option<String>,
    channel_a: Option<Vec<f32>>,
    channel_b: Option<Vec<f32>>,
    pcm16: Option<String>,
}

impl SseConnection {
    pub async fn open(
        url: &str,
        token: Option<&str>,
        timeout: Duration,
        tls: &TlsOptions,
    ) -> Result<Self, ListenError> {
        let client = tls.http_client(url).map_err(|e| ListenError::Connect(e.to_string()))?;
        let mut req = client.get(url).header("accept", "text/event-stream");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = match tokio::time::timeout(timeout, req.send()).await {
            Err(_) => return Err(ListenError::Connect(format!("no response within {timeout:?}"))),
            Ok(Err(e)) => return Err(ListenError::Connect(explain(&e))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(ListenError::refused(status.as_u16(), &body));
        }
        Ok(SseConnection {
            body: resp.bytes_stream().boxed(),
            parser: SseParser::new(),
            bytes: 0,
            messages: 0,
        })
    }

    pub async fn next(&mut self) -> Result<Option<Incoming>, ListenError> {
        loop {
            if let Some(event) = self.parser.next_event() {
                self.messages += 1;
                return Ok(Some(incoming(&event)?));
            }
            match self.body.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(ListenError::Connection(e.to_string())),
                Some(Ok(chunk)) => {
                    self.bytes += chunk.len() as u64;
                    self.parser.feed(&chunk);
                }
            }
        }
    }

    pub fn received(&self) -> (u64, u64) {
        (self.bytes, self.messages)
    }
}

fn incoming(event: &SseEvent) -> Result<Incoming, ListenError> {
    Ok(match event.event.as_deref() {
        Some("audio-frame") => {
            let a: AudioEvent = serde_json::from_str(&event.data)
                .map_err(|e| ListenError::Protocol(format!("audio-frame event: {e}")))?;
            audio(a)?
        }
        Some("status") => match serde_json::from_str::<Status>(&event.data) {
            Ok(s) => notice(&s),
            // a status this client does not know: pass its words on
            Err(_) => Incoming::Notice { text: format!("status {}", event.data), skipped: 0 },
        },
        Some("error") => Incoming::Ended(event.data.trim_start_matches("error:").trim().to_string()),
        _ => Incoming::Nothing,
    })
}

/// Splits an event (several frames when the server merged them for `max_fps`) into frames.
fn audio(a: AudioEvent) -> Result<Incoming, ListenError> {
    let bad = |what: String| ListenError::Protocol(format!("audio-frame {}: {what}", a.frame_number));
    let count = a.frames.unwrap_or(1).max(1);
    let channels = a.channels.unwrap_or(2).clamp(1, 2);
    let frame_us = (a.duration_ms * 1000.0 / f64::from(count)).round() as u32;
    let capture_us =
        a.capture_us.or(a.timestamp.map(|ms| ms * 1000)).ok_or_else(|| bad("no capture time".into()))?;
    let (samples, codec) = if let Some(b64) = &a.pcm16 {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| bad(e.to_string()))?;
        let mut out = Vec::new();
        ondes_codec::decode_interleaved(&bytes, ondes_codec::SampleFormat::S16Le, &mut out)
            .map_err(|e| bad(e.to_string()))?;
        (out, "pcm16")
    } else {
        let left = a.channel_a.as_deref().ok_or_else(|| bad("no channel_a, channel_b or pcm16".into()))?;
        let right = a.channel_b.as_deref().unwrap_or(left);
        let out = if channels == 1 {
            left.to_vec()
        } else {
            left.iter().zip(right).flat_map(|(l, r)| [*l, *r]).collect()
        };
        (out, if a.format.as_deref() == Some("lightweight") { "lightweight" } else { "json" })
    };
    let per_frame = samples.len() / count as usize;
    if per_frame == 0 || frame_us == 0 {
        return Err(bad(format!("{} samples in {count} frames of {} ms", samples.len(), a.duration_ms)));
    }
    let frames = samples
        .chunks_exact(per_frame)
        .enumerate()
        .map(|(i, chunk)| RxFrame {
            seq: a.frame_number + i as u64,
            capture_us: capture_us + i as i64 * i64::from(frame_us),
            data: FrameData::Pcm(chunk.to_vec()),
        })
        .collect();
    let layout = AudioLayout { sample_rate: a.sample_rate, channels, frame_us };
    Ok(Incoming::Audio { layout, codec, frames })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> SseEvent {
        SseEvent { event: Some("audio-frame".into()), id: None, data: data.into(), retry_ms: None }
    }

    #[test]
    fn merged_stereo_event_becomes_frames() {
        let e = event(
            r#"{"frame_number":10,"timestamp":5,"capture_us":5000,"sample_rate":8000,"channels":2,
            "duration_ms":5.0,"frames":2,"format":"json","channel_a":[0.1,0.2,0.3,0.4],"channel_b":[-0.1,-0.2,-0.3,-0.4]}"#,
        );
        let Incoming::Audio { layout, codec, frames } = incoming(&e).unwrap() else { panic!() };
        assert_eq!(layout, AudioLayout { sample_rate: 8000, channels: 2, frame_us: 2500 });
        assert_eq!(codec, "json");
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].seq, 11);
        assert_eq!(frames[1].capture_us, 7500);
        assert_eq!(frames[0].data, FrameData::Pcm(vec![0.1, -0.1, 0.2, -0.2]));
    }

    #[test]
    fn pcm16_mono_event() {
        // two samples: 16384 (0.5) and -32768 (-1.0)
        let e = event(
            r#"{"frame_number":0,"capture_us":1,"sample_rate":8000,"channels":1,"duration_ms":0.25,"format":"pcm16","pcm16":"AEAAgA=="}"#,
        );
        let Incoming::Audio { frames, codec, .. } = incoming(&e).unwrap() else { panic!() };
        assert_eq!(codec, "pcm16");
        assert_eq!(frames[0].data, FrameData::Pcm(vec![0.5, -1.0]));
    }

    #[test]
    fn malformed_audio_is_an_error_and_notices_are_read() {
        assert!(incoming(&event(r#"{"frame_number":0}"#)).is_err());
        let status = SseEvent {
            event: Some("status".into()),
            data: r#"{"status":"lagged","skipped_frames":40}"#.into(),
            ..Default::default()
        };
        assert_eq!(
            incoming(&status).unwrap(),
            Incoming::Notice { text: "lagged (40 frames skipped)".into(), skipped: 40 }
        );
        let end = SseEvent {
            event: Some("error".into()),
            data: "error: stream ended".into(),
            ..Default::default()
        };
        assert_eq!(incoming(&end).unwrap(), Incoming::Ended("stream ended".into()));
    }
}
