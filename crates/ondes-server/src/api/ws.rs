//! `GET /api/streams/{id}/ws` (and `/api/audio/ws`): binary audio over WebSocket.
//!
//! The handler parses the query and admits the listener. A connection the server took over
//! (its first request: see `crate::http::accept`) gets the handshake answer from here and
//! goes to its feed's writer ([`crate::egress::ws_session`]); one that came through hyper (a
//! reused keep-alive connection) is upgraded by axum and served by the loop below, which
//! writes the session's messages and reads what the client sends (reports, pings, closes).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use ondes_core::abr::ProfileRequest;
use ondes_core::egress::MessageKind;

use crate::egress::writer::{Taken, Takeover};
use crate::egress::ws::{WsOptions, WsTransport, abr_update};
use crate::egress::ws_session::WsDriven;
use crate::egress::{ListenerSession, Start};
use crate::http::admission::{Admission, admit_listener};
use crate::http::error::ApiError;
use crate::http::rung_query::{RungOffer, rung_choice};
use crate::http::{QueryMap, StreamId};
use crate::hub::StreamHub;
use crate::state::SharedState;

/// WebSocket carries PCM16 (its `lossless`) besides the Opus rungs.
const WS_RUNGS: RungOffer = RungOffer { transport: "WebSocket", pcm: true, lossless_elsewhere: None };

/// Largest text message a listener may send (reports are a few hundred bytes).
pub const MAX_LISTENER_MESSAGE: usize = 64 * 1024;

/// `batch=` if the listener fixed it (otherwise the profile decides, default 4).
pub(crate) fn parse_batch(q: &QueryMap) -> Result<Option<u64>, ApiError> {
    match q.0.get("batch") {
        None => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(b) if (1..=32).contains(&b) => Ok(Some(b)),
            _ => Err(ApiError::bad_request(
                "bad_batch",
                format!("batch='{v}' must be an integer from 1 to 32"),
            )),
        },
    }
}

/// `last_seq=`: the sequence number of the last frame the listener has (full, or the low 32
/// bits its audio messages carry: extended against the stream's position); it resumes after it.
pub(crate) fn parse_last_seq(q: &QueryMap) -> Result<Option<u64>, ApiError> {
    match q.0.get("last_seq") {
        None => Ok(None),
        Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
            ApiError::bad_request("bad_last_seq", format!("last_seq='{v}' must be a frame sequence number"))
        }),
    }
}

/// Where a listener with `last_seq` starts.
fn start_for(hub: &StreamHub, last_seq: Option<u64>) -> Start {
    match last_seq {
        None => Start::Live,
        Some(s) if s <= u64::from(u32::MAX) && hub.next_seq() > u64::from(u32::MAX) => {
            Start::ResumeAfter(ondes_core::proto::audio::extend_seq(s as u32, Some(hub.next_seq())))
        }
        Some(s) => Start::ResumeAfter(s),
    }
}

/// The `Sec-WebSocket-Accept` answer to a handshake, or why the request is not one.
fn handshake_key(headers: &HeaderMap) -> Result<String, String> {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err("the request has no `Upgrade: websocket` / `Connection: upgrade`".into());
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v != "13") {
        return Err("only WebSocket version 13 is spoken (`Sec-WebSocket-Version: 13`)".into());
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY).ok_or("the request has no `Sec-WebSocket-Key`")?;
    Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

#[allow(clippy::too_many_arguments)] // an axum handler: one argument per extractor
pub async fn ws(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    takeover: Option<Extension<Takeover>>,
    headers: HeaderMap,
    q: QueryMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let last_seq = parse_last_seq(&q)?;
    crate::cluster::edge::ensure_stream(&app, &id, last_seq).await;
    let hub = app.hub(&id)?;
    let start = start_for(&hub, last_seq);
    let choice = rung_choice(&hub, &q, WS_RUNGS)?;
    let batch = parse_batch(&q)?;
    let profile = ProfileRequest::parse(q.0.get("profile").map_or("auto", String::as_str)).map_err(|e| {
        ApiError::bad_request(
            "bad_profile",
            format!("{e}; use auto, ultra_performance, balanced, high_throughput, emergency_fallback, conversation, realtime, presentation or training"),
        )
    })?;
    let not_websocket = |e: &dyn std::fmt::Display| {
        ApiError::bad_request("not_websocket", format!("this endpoint speaks WebSocket (ws://…): {e}"))
    };
    if let Some(Extension(slot)) = takeover {
        let accept = handshake_key(&headers).map_err(|e| not_websocket(&e))?;
        let admission = admit_listener(&app, &id, peer, &headers, &q, "ws")?;
        let opts = WsOptions { choice, batch, profile, framed: true, abr: app.config.abr };
        return Ok(hand_to_writer(&app, admission, opts, start, &slot, &accept));
    }
    let upgrade = upgrade.map_err(|e| not_websocket(&e))?;
    let admission = admit_listener(&app, &id, peer, &headers, &q, "ws")?;
    // small buffers: thousands of listeners; messages are a few hundred bytes to a few KB.
    // A listener sends only small JSON (reports, pings): anything larger than 64 KB closes
    // its connection instead of being buffered
    let upgrade = upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_LISTENER_MESSAGE)
        .max_frame_size(MAX_LISTENER_MESSAGE);
    let opts = WsOptions { choice, batch, profile, framed: false, abr: app.config.abr };
    Ok(upgrade.on_upgrade(move |socket| run(socket, app, admission, opts, start)))
}

/// Puts the listener's session in the takeover slot (the connection layer writes the
/// answer below and hands the socket to the feed's writer) and answers the handshake.
fn hand_to_writer(
    app: &SharedState,
    admission: Admission,
    opts: WsOptions,
    start: Start,
    slot: &Takeover,
    accept: &str,
) -> Response {
    let Admission { hub, guard } = admission;
    let transport = WsTransport::new(hub.clone(), guard.info.clone(), app.metrics.clone(), opts);
    let batch = transport.current_batch();
    // an adaptive listener changes its batch: its writer wakes at every frame
    let feed_batch = if transport.is_adaptive() { 1 } else { batch };
    let session = ListenerSession::new(app, hub.clone(), guard, transport, batch, start);
    let heartbeat = Duration::from_secs(app.config.server.heartbeat_secs);
    let driven = WsDriven::new(session, heartbeat, MAX_LISTENER_MESSAGE);
    slot.put(Taken { hub, batch: feed_batch, session: Box::new(driven) });
    let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(v) = HeaderValue::from_str(accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

/// Writes the session's messages to the socket and reads the client's, until either ends.
async fn run(socket: WebSocket, app: SharedState, admission: Admission, opts: WsOptions, start: Start) {
    let Admission { hub, guard } = admission;
    let transport = WsTransport::new(hub.clone(), guard.info.clone(), app.metrics.clone(), opts);
    let batch = transport.current_batch();
    let mut s = ListenerSession::new(&app, hub.clone(), guard, transport, batch, start);
    let (mut tx, mut rx) = socket.split();
    let mut ping = tokio::time::interval(Duration::from_secs(app.config.server.heartbeat_secs));
    ping.tick().await;
    let send_timer = app.metrics.stage(crate::metrics::Stage::Send, &hub.id);
    // adaptation: send state every 100 ms, round trips measured by pings behind the audio
    let adaptive = s.transport.is_adaptive();
    let mut abr_tick = tokio::time::interval(Duration::from_millis(100));
    let mut abr_ping = tokio::time::interval(Duration::from_millis(250));
    let mut abr_ticks = 0u64;
    let mut sent = 0u64;
    loop {
        while let Some(m) = s.next_message() {
            let (msg, frames) = match m.kind {
                MessageKind::Audio { frames, .. } => (Message::Binary(m.bytes), u64::from(frames)),
                MessageKind::Control => match Utf8Bytes::try_from(m.bytes) {
                    Ok(t) => (Message::Text(t), 0),
                    Err(_) => continue, // our own JSON: always UTF-8
                },
            };
            let len = match &msg {
                Message::Binary(b) => b.len() as u64,
                _ => 0,
            };
            let t0 = std::time::Instant::now();
            if tx.send(msg).await.is_err() {
                s.send_failed(frames);
                return;
            }
            sent += 1;
            if frames > 0 {
                // the send timer is sampled, like delivery latency
                if sent.is_multiple_of(8) {
                    send_timer.record(t0.elapsed());
                }
                s.transport.written_bytes += len;
                if adaptive {
                    // a slow link keeps this loop busy sending: feed the controller here too
                    // (what was sent is gone; what is left waits)
                    abr_update(&mut s, false);
                }
            }
            // between messages, a slow socket may have let the listener fall behind
            if s.egress.is_idle() {
                s.update();
            }
        }
        if s.is_finished() {
            let _ = tx.send(Message::Close(None)).await;
            return;
        }
        s.update();
        if !s.egress.is_idle() || s.is_finished() {
            continue;
        }
        tokio::select! {
            _ = s.changed() => {}
            _ = abr_tick.tick(), if adaptive => {
                // only reached with nothing queued: the socket took all it was given
                abr_update(&mut s, true);
                abr_ticks += 1;
                if abr_ticks.is_multiple_of(10) {
                    s.transport.publish_abr();
                }
            }
            _ = abr_ping.tick(), if adaptive => {
                let t = s.transport.session_time();
                if tx.send(Message::Ping(Bytes::copy_from_slice(&t.to_le_bytes()))).await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                s.guard.info.last_heartbeat_ms.store(crate::clock::now_ms(), Ordering::Relaxed);
                if tx.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
            m = rx.next() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(t))) => {
                    if let Some(reply) = s.transport.client_text(&t) {
                        s.egress.push_control_now(reply);
                    }
                }
                Some(Ok(Message::Pong(p))) if p.len() == 8 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&p);
                    s.transport.handle_pong(u64::from_le_bytes(b));
                }
                Some(Ok(Message::Binary(_))) => {
                    let reply = s.transport.unexpected_binary();
                    s.egress.push_control_now(reply);
                }
                Some(Ok(_)) => {}
            },
        }
    }
}
