//! The WebSocket transport: binary audio messages (`ondes_core::proto::audio`) and JSON text
//! messages both ways (`ondes_core::proto::control`).

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use ondes_core::proto::audio::{Codec, decode_audio};
use ondes_core::proto::control::{FromListener, ToListener};
use serde::de::IgnoredAny;
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use super::ListenError;
use super::transport::{AudioLayout, FrameData, Incoming, RxFrame, notice};
use crate::tls::{TlsOptions, explain, is_tls_url};

type WsStream = tokio_tungstenite::WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct WsConnection {
    tx: SplitSink<WsStream, Message>,
    rx: SplitStream<WsStream>,
    last_seq: Option<u64>,
    bytes: u64,
    messages: u64,
    handshake_rtt: Duration,
}

/// Connects to the request's host. TCP_NODELAY: the report and the ping go out back to back
/// each second; with Nagle's algorithm the ping would wait for the report's (delayed) ACK
/// and the measured round trip would include up to 40 ms of it.
async fn connect_tcp(req: &tungstenite::handshake::client::Request) -> Result<TcpStream, ListenError> {
    let uri = req.uri();
    let default_port = match uri.scheme_str() {
        Some("ws") => 80,
        Some("wss") => 443,
        _ => {
            return Err(ListenError::InvalidUrl {
                url: uri.to_string(),
                reason: "the scheme must be ws:// or wss://".into(),
            });
        }
    };
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(default_port);
    let tcp = TcpStream::connect((host, port)).await.map_err(|e| ListenError::Connect(e.to_string()))?;
    tcp.set_nodelay(true).map_err(|e| ListenError::Connect(e.to_string()))?;
    Ok(tcp)
}

impl WsConnection {
    pub async fn open(
        url: &str,
        token: Option<&str>,
        timeout: Duration,
        tls: &TlsOptions,
    ) -> Result<Self, ListenError> {
        let mut req = url
            .into_client_request()
            .map_err(|e| ListenError::InvalidUrl { url: url.into(), reason: e.to_string() })?;
        if let Some(t) = token {
            let value = format!("Bearer {t}").parse().map_err(|_| ListenError::BadToken)?;
            req.headers_mut().insert("authorization", value);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let late = || ListenError::Connect(format!("no WebSocket handshake within {timeout:?}"));
        let tcp = match tokio::time::timeout_at(deadline, connect_tcp(&req)).await {
            Err(_) => return Err(late()),
            Ok(r) => r?,
        };
        // The handshake (upgrade request up, 101 down) is one round trip on the path the audio
        // takes: the jitter floor starts from it (see `ondes_core::abr::JitterAdvice`).
        let asked = std::time::Instant::now();
        // the connector is used for wss:// only (TLS handshake, then the upgrade)
        let connector = match is_tls_url(url) {
            true => Some(tls.ws_connector().map_err(|e| ListenError::Connect(e.to_string()))?),
            false => None,
        };
        let handshake = tokio_tungstenite::client_async_tls_with_config(req, tcp, None, connector);
        let (ws, _) = match tokio::time::timeout_at(deadline, handshake).await {
            Err(_) => return Err(late()),
            Ok(Ok(ok)) => ok,
            Ok(Err(tungstenite::Error::Http(resp))) => {
                let body = resp.body().as_deref().unwrap_or_default();
                return Err(ListenError::refused(resp.status().as_u16(), body));
            }
            Ok(Err(e)) => return Err(ListenError::Connect(explain(&e))),
        };
        let handshake_rtt = asked.elapsed();
        let (tx, rx) = ws.split();
        Ok(WsConnection { tx, rx, last_seq: None, bytes: 0, messages: 0, handshake_rtt })
    }

    /// The round trip of the WebSocket handshake.
    pub fn handshake_rtt(&self) -> Duration {
        self.handshake_rtt
    }

    pub async fn next(&mut self) -> Result<Option<Incoming>, ListenError> {
        let msg = match self.rx.next().await {
            None | Some(Err(tungstenite::Error::ConnectionClosed)) => return Ok(None),
            Some(Err(e)) => return Err(ListenError::Connection(e.to_string())),
            Some(Ok(m)) => m,
        };
        self.messages += 1;
        self.bytes += msg.len() as u64;
        Ok(Some(match msg {
            Message::Binary(b) => self.audio(&b)?,
            Message::Text(t) => text(&t),
            Message::Close(_) => return Ok(None),
            _ => Incoming::Nothing,
        }))
    }

    fn audio(&mut self, msg: &[u8]) -> Result<Incoming, ListenError> {
        let m = decode_audio(msg, self.last_seq).map_err(|e| ListenError::Protocol(e.to_string()))?;
        let h = m.header;
        let layout =
            AudioLayout { sample_rate: h.sample_rate, channels: u16::from(h.channels), frame_us: h.frame_us };
        let mut frames = Vec::with_capacity(m.frames.len());
        for (i, payload) in m.frames.iter().enumerate() {
            let data = match h.codec {
                Codec::Opus => FrameData::Opus(payload.to_vec()),
                Codec::Pcm16 | Codec::F32 => {
                    let format = if h.codec == Codec::Pcm16 {
                        ondes_codec::SampleFormat::S16Le
                    } else {
                        ondes_codec::SampleFormat::F32Le
                    };
                    let mut samples = Vec::new();
                    ondes_codec::decode_interleaved(payload, format, &mut samples)
                        .map_err(|e| ListenError::Protocol(format!("frame {i} of a message: {e}")))?;
                    FrameData::Pcm(samples)
                }
            };
            frames.push(RxFrame {
                seq: h.first_seq + i as u64,
                capture_us: h.capture_us + i as i64 * i64::from(h.frame_us),
                data,
            });
        }
        self.last_seq = Some(h.first_seq + m.frames.len() as u64 - 1);
        Ok(Incoming::Audio { layout, codec: h.codec.name(), frames })
    }

    pub async fn send(&mut self, m: &FromListener) -> Result<(), ListenError> {
        let text = serde_json::to_string(m).map_err(|e| ListenError::Protocol(e.to_string()))?;
        self.tx.send(Message::Text(text.into())).await.map_err(|e| ListenError::Connection(e.to_string()))
    }

    pub fn received(&self) -> (u64, u64) {
        (self.bytes, self.messages)
    }
}

/// A JSON text message from the server (also the WHEP data channel's).
pub(super) fn text(t: &str) -> Incoming {
    let m = match serde_json::from_str::<ToListener>(t) {
        Ok(m) => m,
        // JSON this client does not know (a newer server's message): not for us
        Err(_) if serde_json::from_str::<IgnoredAny>(t).is_ok() => return Incoming::Nothing,
        Err(_) => return Incoming::Notice { text: format!("unreadable server message: {t}"), skipped: 0 },
    };
    match m {
        ToListener::Info(i) => {
            Incoming::Rung { rung: i.rung, batch: Some(i.batch), jitter: i.jitter, why: None }
        }
        ToListener::Rung(r) => Incoming::Rung {
            rung: r.rung,
            batch: r.batch,
            jitter: r.jitter,
            why: r.code.map(|code| if r.reason.is_empty() { code } else { format!("{code}: {}", r.reason) }),
        },
        ToListener::Status(s) => notice(&s),
        ToListener::Pong(p) => match p.client_ts_us {
            Some(ts) => Incoming::Pong { client_ts_us: ts },
            None => Incoming::Nothing,
        },
        ToListener::Error(e) if e.ends_stream() => Incoming::Ended(format!("{}: {}", e.error, e.message)),
        ToListener::Error(e) => {
            Incoming::Notice { text: format!("server error {}: {}", e.error, e.message), skipped: 0 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_become_events() {
        let info = text(
            r#"{"type":"info","protocol":1,"stream":"main","connection_id":"17","codec":"opus","rung":"64","rungs":["pcm16","64"],"sample_rate":48000,"channels":2,"frame_ms":20.0,"batch":4,"paused":false,"source_lost":false,"adaptive":true,"profile":"balanced","jitter":{"target_ms":60,"max_ms":2000,"rtts":3}}"#,
        );
        let advice = ondes_core::abr::JitterAdvice { target_ms: 60, max_ms: 2000, rtts: 3 };
        assert_eq!(
            info,
            Incoming::Rung { rung: "64".into(), batch: Some(4), jitter: Some(advice), why: None }
        );
        assert_eq!(
            text(
                r#"{"type":"rung","rung":"32","batch":4,"direction":"down","code":"backlog","reason":"800 ms waiting"}"#
            ),
            Incoming::Rung {
                rung: "32".into(),
                batch: Some(4),
                jitter: None,
                why: Some("backlog: 800 ms waiting".into())
            }
        );
        assert_eq!(
            text(r#"{"type":"rung","rung":"pcm16","reason":"stream quality set to 0.5"}"#),
            Incoming::Rung { rung: "pcm16".into(), batch: None, jitter: None, why: None }
        );
        assert_eq!(
            text(r#"{"type":"status","status":"lagged","skipped_frames":40}"#),
            Incoming::Notice { text: "lagged (40 frames skipped)".into(), skipped: 40 }
        );
        assert_eq!(
            text(r#"{"type":"pong","id":3,"client_ts_us":1234,"server_ts_us":5678}"#),
            Incoming::Pong { client_ts_us: 1234 }
        );
        assert_eq!(
            text(r#"{"type":"error","error":"stream_ended","message":"stream ended: eof"}"#),
            Incoming::Ended("stream_ended: stream ended: eof".into())
        );
        assert_eq!(
            text(r#"{"type":"error","error":"bad_json","message":"not JSON"}"#),
            Incoming::Notice { text: "server error bad_json: not JSON".into(), skipped: 0 }
        );
        // a newer server's message is not for us; something that is not JSON is worth a word
        assert_eq!(text(r#"{"type":"stats","listeners":3}"#), Incoming::Nothing);
        assert!(matches!(text("garbage"), Incoming::Notice { skipped: 0, .. }));
    }
}
