//! Reading a stream as a sequence of frame arrivals, for SSE, WebSocket and WHEP URLs alike.

use std::time::{Duration, Instant};

use base64_free::parse_u64_field;
use futures_util::StreamExt;
use ondes_core::proto::audio::decode_audio;
use ondes_core::proto::control::ToListener;
use ondes_core::proto::sse::SseParser;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::ProbeError;

/// One message's worth of frames as the probe saw it.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub first_seq: u64,
    pub frames: u64,
    /// Capture time of the first frame (server clock, µs since the epoch).
    pub capture_us: i64,
    /// Local arrival time (µs since the epoch).
    pub arrival_us: i64,
    /// Duration of one frame (µs).
    pub frame_us: u64,
}

/// What the stream told us about the connection.
#[derive(Debug, Clone, Default)]
pub struct Hello {
    pub connection_id: Option<String>,
}

/// Events from a reader task.
#[derive(Debug)]
pub enum Event {
    Hello(Hello),
    Arrival(Arrival),
    Ended(String),
}

pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Slows reading down to `bytes_per_sec` (to emulate a slow listener).
struct Throttle {
    rate: Option<f64>,
    start: Instant,
    bytes: u64,
}

impl Throttle {
    async fn account(&mut self, n: usize) {
        let Some(rate) = self.rate else { return };
        self.bytes += n as u64;
        let due = Duration::from_secs_f64(self.bytes as f64 / rate);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
}

mod base64_free {
    /// Reads `"key":<integer>` from a JSON text without parsing the whole document (SSE
    /// audio events are 15 KB of samples after a few metadata fields).
    pub fn parse_u64_field(data: &str, key: &str) -> Option<i64> {
        let pat = format!("\"{key}\":");
        let at = data.find(&pat)? + pat.len();
        let rest = &data[at..];
        let end = rest.find(|c: char| c != '-' && !c.is_ascii_digit()).unwrap_or(rest.len());
        rest[..end].parse().ok()
    }
}

/// Reads an SSE stream over a plain TCP connection (so that a throttled probe can shrink
/// its receive buffer and really be a slow reader), sending events until the stream ends.
pub async fn read_sse(
    url: String,
    token: Option<String>,
    throttle: Option<f64>,
    tx: mpsc::UnboundedSender<Event>,
) -> Result<(), ProbeError> {
    use crate::bench::http1::{ChunkedDecoder, parse_http_url, parse_response_head};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let u = parse_http_url(&url).map_err(|e| ProbeError::Url(e.to_string()))?;
    let addr = tokio::net::lookup_host((u.host.as_str(), u.port))
        .await
        .map_err(|e| ProbeError::Connect(e.to_string()))?
        .next()
        .ok_or_else(|| ProbeError::Connect(format!("{} does not resolve", u.host)))?;
    let sock = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() }
        .map_err(|e| ProbeError::Connect(e.to_string()))?;
    if throttle.is_some() {
        // a small window: the server sees a slow reader at once, as it would over a slow link
        let _ = sock.set_recv_buffer_size(16 * 1024);
    }
    let mut tcp = sock.connect(addr).await.map_err(|e| ProbeError::Connect(format!("{addr}: {e}")))?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let path = if u.path_and_query.is_empty() { "/" } else { u.path_and_query.as_str() };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nUser-Agent: ondes-probe\r\n{auth}\r\n",
        u.host_header
    );
    tcp.write_all(req.as_bytes()).await.map_err(|e| ProbeError::Connect(e.to_string()))?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut head = Vec::new();
    let mut chunked: Option<ChunkedDecoder> = None;
    let mut started = false;
    let mut parser = SseParser::new();
    let mut th = Throttle { rate: throttle, start: Instant::now(), bytes: 0 };
    loop {
        let n = tcp.read(&mut buf).await.map_err(|e| ProbeError::Connect(e.to_string()))?;
        if n == 0 {
            break;
        }
        th.account(n).await;
        let mut body: &[u8] = &buf[..n];
        if !started {
            head.extend_from_slice(body);
            let Some(h) = parse_response_head(&head).map_err(|e| ProbeError::Connect(e.to_string()))? else {
                continue;
            };
            if h.status != 200 {
                let text = String::from_utf8_lossy(&head[h.head_len..]).into_owned();
                return Err(ProbeError::Http(h.status, text));
            }
            started = true;
            if h.chunked {
                chunked = Some(ChunkedDecoder::new());
            }
            let rest = head[h.head_len..].to_vec();
            feed(&mut parser, &mut chunked, &rest)?;
            body = &[];
        }
        feed(&mut parser, &mut chunked, body)?;
        let arrival_us = now_us();
        while let Some(e) = parser.next_event() {
            if !dispatch(&e, arrival_us, &tx) {
                return Ok(());
            }
        }
    }
    let _ = tx.send(Event::Ended("the server closed the stream".into()));
    Ok(())
}

fn feed(
    parser: &mut SseParser,
    chunked: &mut Option<crate::bench::http1::ChunkedDecoder>,
    bytes: &[u8],
) -> Result<(), ProbeError> {
    match chunked {
        Some(d) => d.decode(bytes, &mut |b| parser.feed(b)).map_err(|e| ProbeError::Connect(e.to_string())),
        None => {
            parser.feed(bytes);
            Ok(())
        }
    }
}

/// Turns one SSE event into a probe event; false when the stream is over.
fn dispatch(
    e: &ondes_core::proto::sse::SseEvent,
    arrival_us: i64,
    tx: &mpsc::UnboundedSender<Event>,
) -> bool {
    match e.event.as_deref() {
        None if e.data == "connected" => {
            let _ = tx.send(Event::Hello(Hello { connection_id: e.id.clone() }));
        }
        Some("audio-frame") => {
            let d = &e.data;
            let (Some(n), Some(cap)) = (parse_u64_field(d, "frame_number"), parse_u64_field(d, "capture_us"))
            else {
                return true;
            };
            let frames = parse_u64_field(d, "frames").unwrap_or(1).max(1) as u64;
            let dur_ms: f64 = d
                .find("\"duration_ms\":")
                .and_then(|i| d[i + 14..].split([',', '}']).next().and_then(|x| x.parse().ok()))
                .unwrap_or(20.0);
            let frame_us = (dur_ms * 1000.0 / frames as f64).round() as u64;
            let a = Arrival { first_seq: n as u64, frames, capture_us: cap, arrival_us, frame_us };
            return tx.send(Event::Arrival(a)).is_ok();
        }
        Some("error") => {
            let _ = tx.send(Event::Ended(e.data.clone()));
            return false;
        }
        _ => {}
    }
    true
}

/// Reads a WebSocket stream (binary audio messages per docs/protocol.md).
pub async fn read_ws(
    url: String,
    token: Option<String>,
    throttle: Option<f64>,
    tx: mpsc::UnboundedSender<Event>,
) -> Result<(), ProbeError> {
    let mut req = url.as_str().into_client_request().map_err(|e| ProbeError::Connect(e.to_string()))?;
    if let Some(t) = &token {
        let v = format!("Bearer {t}").parse().map_err(|_| ProbeError::Connect("bad token".into()))?;
        req.headers_mut().insert("authorization", v);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| match e {
        tokio_tungstenite::tungstenite::Error::Http(resp) => {
            ProbeError::Http(resp.status().as_u16(), String::new())
        }
        e => ProbeError::Connect(e.to_string()),
    })?;
    let mut th = Throttle { rate: throttle, start: Instant::now(), bytes: 0 };
    let mut last_seq = None;
    while let Some(m) = ws.next().await {
        let m = m.map_err(|e| ProbeError::Connect(e.to_string()))?;
        let arrival_us = now_us();
        match m {
            Message::Binary(b) => {
                th.account(b.len()).await;
                let Ok(msg) = decode_audio(&b, last_seq) else { continue };
                let h = msg.header;
                last_seq = Some(h.first_seq + h.frame_count as u64 - 1);
                let a = Arrival {
                    first_seq: h.first_seq,
                    frames: h.frame_count as u64,
                    capture_us: h.capture_us,
                    arrival_us,
                    frame_us: h.frame_us as u64,
                };
                if tx.send(Event::Arrival(a)).is_err() {
                    return Ok(());
                }
            }
            Message::Text(t) => match serde_json::from_str::<ToListener>(&t) {
                Ok(ToListener::Info(info)) => {
                    let id = Some(info.connection_id).filter(|id| !id.is_empty());
                    let _ = tx.send(Event::Hello(Hello { connection_id: id }));
                }
                Ok(ToListener::Error(e)) => {
                    let why = if e.message.is_empty() { e.error } else { e.message };
                    let _ = tx.send(Event::Ended(why));
                    return Ok(());
                }
                // status, rung, pong, or a message the probe does not know
                _ => {}
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    let _ = tx.send(Event::Ended("the server closed the stream".into()));
    Ok(())
}

/// Reads a WHEP session: one arrival per RTP packet, its frame number from the RTP
/// timestamp and its capture time from the `abs-capture-time` extension. The session is
/// DELETEd when the probe stops reading (drops its receiver) or the stream ends.
/// `near` is the stream's frame number when the session started (its stats' `next_frame`):
/// with it, frames are numbered as the server numbers them, so that the probe's window (from
/// the stats) and the frames line up; without it, as the session's RTP timestamps do.
pub async fn read_whep(
    url: String,
    token: Option<String>,
    near: Option<u64>,
    tx: mpsc::UnboundedSender<Event>,
) -> Result<(), ProbeError> {
    use ondes_client::rtc::{SignalError, WhepError, WhepEvent, WhepReceiver};

    let tls = ondes_client::tls::TlsOptions::default();
    let mut rx = WhepReceiver::open(&url, token.as_deref(), Duration::from_secs(10), &tls).await.map_err(
        |e| match e {
            WhepError::Signal(SignalError::Refused { status, code, message }) => {
                ProbeError::Http(status, format!("{code}: {message}"))
            }
            e => ProbeError::Connect(e.to_string()),
        },
    )?;
    let _ = tx.send(Event::Hello(Hello { connection_id: None }));
    let mut unstamped = 0u64;
    // the server's number minus the session's, found from the first frame
    let mut renumber: Option<i128> = None;
    let result = loop {
        let ev = tokio::select! {
            // the probe has what it needs
            _ = tx.closed() => break Ok(()),
            ev = rx.next() => ev,
        };
        match ev {
            Ok(Some(WhepEvent::Frame(f))) => {
                let capture_us = f.capture_us.unwrap_or_else(|| {
                    unstamped += 1;
                    f.arrival_us
                });
                let shift = *renumber.get_or_insert_with(|| {
                    let ticks = (u64::from(f.frame_us) * 48 / 1000) as u32;
                    near.and_then(|n| ondes_client::rtc::receiver::sender_frame_number(f.rtp_time, ticks, n))
                        .map_or(0, |server| i128::from(server) - i128::from(f.seq))
                });
                let a = Arrival {
                    first_seq: u64::try_from(i128::from(f.seq) + shift).unwrap_or(f.seq),
                    frames: 1,
                    capture_us,
                    arrival_us: f.arrival_us,
                    frame_us: u64::from(f.frame_us),
                };
                if tx.send(Event::Arrival(a)).is_err() {
                    break Ok(());
                }
            }
            Ok(Some(WhepEvent::Text(t))) => {
                if let Ok(ToListener::Error(e)) = serde_json::from_str::<ToListener>(&t) {
                    let why = if e.message.is_empty() { e.error } else { e.message };
                    let _ = tx.send(Event::Ended(why));
                    break Ok(());
                }
            }
            Ok(None) => {
                let _ = tx.send(Event::Ended("the WebRTC session ended".into()));
                break Ok(());
            }
            Err(e) => break Err(ProbeError::Connect(e.to_string())),
        }
    };
    if unstamped > 0 {
        tracing::warn!(unstamped, "WHEP packets without abs-capture-time: their latency reads as zero");
    }
    rx.close().await;
    result
}
