//! Shared helpers for the server's integration tests: a real server on 127.0.0.1:0 and a
//! real HTTP client.
#![allow(dead_code)]

pub mod signal;

use std::time::Duration;

use futures_util::StreamExt;
use ondes_core::proto::audio::{AudioHeader, Codec, encode_audio};
use ondes_core::proto::sse::{SseEvent, SseParser};
use ondes_server::auth::Permission;
use ondes_server::{Config, RunningServer};
use serde_json::Value;

/// Starts a server from TOML (the bind address is forced to an ephemeral loopback port).
pub async fn start(toml: &str) -> RunningServer {
    let mut config = Config::from_toml_and_env(toml, &[]).expect("test config");
    config.server.bind = "127.0.0.1:0".into();
    if config.streams.is_empty() {
        config.add_demo_stream();
    }
    ondes_server::start(config).await.expect("server starts")
}

pub fn token(server: &RunningServer, perms: &[Permission]) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    server.state.auth.mint("tester", perms, 3600, now)
}

pub fn client() -> reqwest::Client {
    ondes_server::http::tls::install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// An open SSE response, parsed event by event.
pub struct Sse {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: SseParser,
}

impl Sse {
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> Sse {
        let mut req = client().get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = tokio::time::timeout(Duration::from_secs(10), req.send())
            .await
            .expect("SSE response headers within 10 s")
            .expect("SSE request");
        Sse {
            status: resp.status(),
            headers: resp.headers().clone(),
            stream: resp.bytes_stream().boxed(),
            parser: SseParser::new(),
        }
    }

    /// The next event, or `None` if the stream ended. Panics after `secs` without one.
    pub async fn next_within(&mut self, secs: f64) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        loop {
            if let Some(e) = self.parser.next_event() {
                return Some(e);
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("no SSE event within {secs} s"),
                Ok(None) => return None,
                Ok(Some(Err(e))) => panic!("SSE read error: {e}"),
                Ok(Some(Ok(chunk))) => self.parser.feed(&chunk),
            }
        }
    }

    /// Like `next_within` but returns `None` on timeout instead of panicking.
    pub async fn try_next(&mut self, secs: f64) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        loop {
            if let Some(e) = self.parser.next_event() {
                return Some(e);
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) | Ok(None) => return None,
                Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(chunk))) => self.parser.feed(&chunk),
            }
        }
    }

    /// The next `audio-frame` event's JSON (skipping heartbeats and status events).
    pub async fn next_audio(&mut self) -> Value {
        loop {
            let e = self.next_within(5.0).await.expect("stream ended while waiting for audio");
            if e.event.as_deref() == Some("audio-frame") {
                return serde_json::from_str(&e.data).expect("audio-frame data is JSON");
            }
        }
    }

    /// The next event of type `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str, secs: f64) -> SseEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let left = (deadline - tokio::time::Instant::now()).as_secs_f64();
            assert!(left > 0.0, "no '{kind}' event within {secs} s");
            let e = self
                .next_within(left)
                .await
                .unwrap_or_else(|| panic!("stream ended before a '{kind}' event"));
            if e.event.as_deref() == Some(kind) {
                return e;
            }
        }
    }
}

pub fn samples(v: &Value, key: &str) -> Vec<f32> {
    v[key].as_array().expect("sample array").iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

pub async fn get_json(url: &str, token: Option<&str>) -> (reqwest::StatusCode, Value) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn post_json(url: &str, token: Option<&str>, body: &str) -> (reqwest::StatusCode, Value) {
    let mut req = client().post(url).header("content-type", "application/json").body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket publisher on `url` (with a bearer token), or the HTTP status that refused it.
pub async fn ws_publisher(url: &str, token: Option<&str>) -> Result<Ws, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    if let Some(t) = token {
        req.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// A 16 kHz mono frame of a 500 Hz tone, as pcm16 bytes.
pub fn tone_frame(seq: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(640);
    for i in 0..320u64 {
        let t = (seq * 320 + i) as f64 / 16_000.0;
        let v = (0.5 * (2.0 * std::f64::consts::PI * 500.0 * t).sin() * 32767.0) as i16;
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

/// A publisher's audio message of 16-bit mono 20 ms frames at `rate`, numbered from `first_seq`.
pub fn message(first_seq: u64, frames: &[Vec<u8>], rate: u32) -> Vec<u8> {
    let h = AudioHeader {
        codec: Codec::Pcm16,
        channels: 1,
        frame_count: frames.len() as u8,
        frame_us: 20_000,
        sample_rate: rate,
        first_seq,
        capture_us: 0,
    };
    let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
    let mut out = Vec::new();
    encode_audio(&h, &refs, &mut out).unwrap();
    out
}
