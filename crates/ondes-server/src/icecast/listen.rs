//! `GET /{mount}` (also `/{mount}.ogg`, `.opus`, `.oga`): Icecast-style listening, Ogg/Opus
//! at one rung of the stream's ladder, playable by ffmpeg, mpv, VLC and `<audio>`.
//!
//! The handler admits the listener and starts its session ([`crate::egress`]) with the Ogg
//! framing ([`crate::egress::ogg`]: pages made once per rung and shared by every listener).
//! A new listener gets the headers and then `icecast.burst_ms` of the most recent pages
//! (default one page: it starts at most one page behind live, where Icecast's 64 KB burst
//! starts seconds behind). A listener that stops reading is not polled by hyper; when it
//! reads again and is more than `server.max_listener_lag_ms` behind, it is skipped ahead to
//! live (counted), or disconnected when `icecast.disconnect_lagging` is set.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use ondes_core::egress::Framer;

use super::mount::{ListenerCount, Mount, frames_per_page};
use crate::egress::body::{Heartbeat, body_stream};
use crate::egress::ogg::OggTransport;
use crate::egress::writer::{Driven, Taken, Takeover};
use crate::egress::ws::effective_rung;
use crate::egress::{ListenerSession, SessionNotice, SkipAction, Start, Transport};
use crate::http::QueryMap;
use crate::http::admission::{Admission, admit_listener};
use crate::http::error::ApiError;
use crate::http::rung_query::{RungOffer, rung_choice};
use crate::hub::{HubFrame, StreamHub};
use crate::state::SharedState;

pub async fn listen(
    State(app): State<SharedState>,
    crate::http::MountName(segment): crate::http::MountName,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    takeover: Option<Extension<Takeover>>,
    q: QueryMap,
) -> Result<Response, ApiError> {
    let mount = app.mount(&segment)?;
    refuse_unserved_format(&segment, &mount.id)?;
    let rung = pick_rung(&mount, &q)?;
    let Admission { hub, guard } = admit_listener(&app, &mount.id, peer, &headers, &q, "http")?;
    let cfg = &app.icecast.config;
    let (fpp, burst_pages) = frames_per_page(cfg, &hub);
    // the burst: the frames of the current page so far and `burst_pages` complete pages before it
    let live = hub.next_seq();
    let burst = live - (live / fpp).saturating_sub(burst_pages) * fpp;
    let kbps = hub.ladder.rungs.get(rung).map_or(0, |r| r.kbps);
    let transport = MountListener {
        ogg: OggTransport::new(&hub, rung, fpp, cfg.disconnect_lagging),
        mount: mount.clone(),
        _count: mount.count_listener(),
        connection: guard.info.id,
    };
    let session = ListenerSession::new(&app, hub.clone(), guard, transport, fpp, Start::Burst(burst));
    let icy = headers.get("icy-metadata").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "1");
    let body = match takeover {
        Some(Extension(t)) => {
            t.put(Taken { hub, batch: fpp, session: Box::new(Driven::new(session, None)) });
            Body::empty()
        }
        None => Body::from_stream(body_stream(session, None)),
    };
    Ok(response(&app, &mount, kbps, body, icy))
}

/// A listener asking for `/{id}.mp3` or `/{id}.flac` wants that format: it gets a `406` saying
/// what is served, never Ogg/Opus under another name (a player would fail to decode it).
fn refuse_unserved_format(segment: &str, id: &str) -> Result<(), ApiError> {
    match segment.strip_prefix(id).and_then(|rest| rest.strip_prefix('.')) {
        Some(ext @ ("mp3" | "flac")) => Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "format_unavailable",
            format!(
                "this server does not serve {} listening; /{id}, /{id}.ogg and /{id}.opus serve Ogg/Opus, \
                 and /api/streams/{id}/hls/index.m3u8 serves Opus over HLS",
                ext.to_uppercase()
            ),
        )),
        _ => Ok(()),
    }
}

/// The Ogg framing, plus the mount's own counts (status-json.xsl).
struct MountListener {
    ogg: OggTransport,
    mount: Arc<Mount>,
    _count: ListenerCount,
    connection: u64,
}

impl Framer<Arc<HubFrame>> for MountListener {
    type Bytes = Bytes;

    fn audio(&mut self, frames: &[Arc<HubFrame>]) -> Bytes {
        self.ogg.audio(frames)
    }
}

impl Transport for MountListener {
    fn notice(&mut self, hub: &StreamHub, notice: &SessionNotice) -> Option<Bytes> {
        self.ogg.notice(hub, notice)
    }

    fn on_skip(&mut self, skipped_frames: u64, last_sent: Option<&Bytes>) -> SkipAction {
        self.mount.skipped_frames.fetch_add(skipped_frames, Ordering::Relaxed);
        let action = self.ogg.on_skip(skipped_frames, last_sent);
        if action == SkipAction::Disconnect {
            self.mount.lagging_disconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!(mount = %self.mount.id, connection = self.connection,
                "HTTP listener disconnected: too far behind (icecast.disconnect_lagging)");
        }
        action
    }
}

impl Heartbeat for MountListener {
    fn heartbeat(&mut self) -> Bytes {
        // never asked: Ogg listeners get no heartbeat (the audio is continuous)
        Bytes::new()
    }
}

/// Ogg/Opus: Opus rungs only; lossless is the WebSocket route's PCM.
const OGG_RUNGS: RungOffer = RungOffer {
    transport: "Ogg/Opus",
    pcm: false,
    lossless_elsewhere: Some("/api/streams/{id}/ws?quality=lossless (PCM)"),
};

/// `?rung=<kbps>` or `?quality=<level>`, or the best rung the stream's quality cap allows.
fn pick_rung(mount: &Mount, q: &QueryMap) -> Result<usize, ApiError> {
    if mount.hub.ladder.rungs.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_opus_ladder",
            format!(
                "stream '{}' is {} Hz, which Opus cannot code, so it has no Ogg/Opus egress; use the SSE or WebSocket PCM routes",
                mount.id, mount.hub.spec.sample_rate
            ),
        ));
    }
    let choice = rung_choice(&mount.hub, q, OGG_RUNGS)?;
    // some: the ladder is not empty, and PCM is not offered here (0 is never used)
    Ok(effective_rung(&mount.hub, choice, mount.hub.control().quality).unwrap_or(0))
}

fn response(app: &SharedState, mount: &Mount, kbps: u32, body: Body, icy: bool) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/ogg"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if icy {
        let info = mount.source.as_ref().and_then(|s| s.info.lock().clone());
        let name = info.as_ref().and_then(|i| i.name.clone()).unwrap_or_else(|| mount.id.clone());
        let mut put = |k: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        };
        put("icy-name", name);
        put("icy-br", kbps.to_string());
        put("icy-pub", if info.as_ref().and_then(|i| i.public).unwrap_or(false) { "1" } else { "0" }.into());
        if let Some(i) = info {
            for (k, v) in [("icy-description", i.description), ("icy-genre", i.genre), ("icy-url", i.url)] {
                if let Some(v) = v {
                    put(k, v);
                }
            }
        }
        put("icy-server-name", app.icecast.config.server_name.clone());
        put(
            "ice-audio-info",
            format!(
                "channels={};samplerate={};bitrate={kbps}",
                mount.hub.spec.channels, mount.hub.spec.sample_rate
            ),
        );
    }
    resp
}
