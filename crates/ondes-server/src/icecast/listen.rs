//! `GET /{mount}` (also `/{mount}.ogg`, `.opus`, `.oga`): Icecast-style listening, Ogg/Opus
//! at one rung of the stream's ladder, playable by ffmpeg, mpv, VLC and `<audio>`;
//! `/{mount}.flac`: the lossless rung as Ogg FLAC; `/{mount}.mp3`: MP3 at `?rung=<kbps>`
//! (128 by default) for legacy players, with in-band ICY titles (`icy-metaint`,
//! [`crate::egress::icy`]) when the player sends `Icy-MetaData: 1`. Other extensions get a `406` naming what is served.
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
use ondes_codec::mp3::{MP3_BITRATES, MP3_DEFAULT_KBPS};
use ondes_core::egress::Framer;

use super::mount::{ListenerCount, Mount, frames_per_page};
use crate::egress::body::{Heartbeat, body_stream};
use crate::egress::icy::{ICY_METAINT, IcyTransport};
use crate::egress::mp3::Mp3Transport;
use crate::egress::ogg::OggTransport;
use crate::egress::ogg_flac::OggFlacTransport;
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
    crate::cluster::edge::ensure_stream(&app, app.streams.mount_id(&segment), None).await;
    let mount = app.mount(&segment)?;
    let format = ListenFormat::of(&segment, &mount.id)?;
    // the rung is checked before admission: a bad request takes no listener slot
    let (rung, kbps) = match format {
        ListenFormat::OggOpus => {
            let rung = pick_rung(&mount, &q)?;
            (rung, mount.hub.ladder.rungs.get(rung).map_or(0, |r| r.kbps))
        }
        ListenFormat::Mp3 => (0, pick_mp3_kbps(&q)?),
        ListenFormat::Flac => {
            if !lossless_available(&mount.hub) {
                return Err(no_lossless(&mount.hub));
            }
            (0, 0)
        }
    };
    let Admission { hub, guard } = admit_listener(&app, &mount.id, peer, &headers, &q, "http")?;
    let cfg = &app.icecast.config;
    let (fpp, burst_pages) = frames_per_page(cfg, &hub);
    // the burst: the frames of the current page so far and `burst_pages` complete pages before it
    let live = hub.next_seq();
    let burst = live - (live / fpp).saturating_sub(burst_pages) * fpp;
    let icy = headers.get("icy-metadata").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "1");
    let connection = guard.info.id;
    let body = match format {
        ListenFormat::OggOpus => {
            let l = MountListener::new(
                OggTransport::new(&hub, rung, fpp, cfg.disconnect_lagging),
                &mount,
                connection,
            );
            session_body(&app, hub, guard, l, fpp, burst, takeover)
        }
        ListenFormat::Flac => {
            let framing =
                OggFlacTransport::new(&hub, fpp, cfg.disconnect_lagging).ok_or_else(|| no_lossless(&hub))?;
            session_body(
                &app,
                hub,
                guard,
                MountListener::new(framing, &mount, connection),
                fpp,
                burst,
                takeover,
            )
        }
        ListenFormat::Mp3 => {
            let framing = Mp3Transport::new(&hub, kbps, fpp, cfg.disconnect_lagging).ok_or_else(|| {
                ApiError::bad_request("bad_rung", format!("{kbps} kbit/s is not an MP3 bitrate"))
            })?;
            if icy {
                // in-band titles every ICY_METAINT bytes (the response says so in icy-metaint)
                let framing = IcyTransport::new(framing, mount.title.clone(), ICY_METAINT);
                let l = MountListener::new(framing, &mount, connection);
                session_body(&app, hub, guard, l, fpp, burst, takeover)
            } else {
                let l = MountListener::new(framing, &mount, connection);
                session_body(&app, hub, guard, l, fpp, burst, takeover)
            }
        }
    };
    Ok(response(&app, &mount, format, kbps, body, icy))
}

/// The listener's session as a response body (or handed to the writer that took the
/// connection over).
fn session_body<T: Transport + Heartbeat + 'static>(
    app: &SharedState,
    hub: Arc<StreamHub>,
    guard: crate::connections::ConnectionGuard,
    transport: T,
    fpp: u64,
    burst: u64,
    takeover: Option<Extension<Takeover>>,
) -> Body {
    let session = ListenerSession::new(app, hub.clone(), guard, transport, fpp, Start::Burst(burst));
    match takeover {
        Some(Extension(t)) => {
            t.put(Taken { hub, batch: fpp, session: Box::new(Driven::new(session, None)) });
            Body::empty()
        }
        None => Body::from_stream(body_stream(session, None)),
    }
}

/// What a listener asked for, by the mount name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListenFormat {
    /// `/{id}`, `.ogg`, `.opus`, `.oga`.
    OggOpus,
    /// `.flac`: Ogg FLAC, the lossless rung.
    Flac,
    /// `.mp3`.
    Mp3,
}

impl ListenFormat {
    /// The format of `segment` (the mount `id` plus an extension). An extension naming a
    /// format this server does not make gets a `406` saying what is served, never another
    /// format under that name (a player would fail to decode it).
    fn of(segment: &str, id: &str) -> Result<Self, ApiError> {
        match segment.strip_prefix(id).and_then(|rest| rest.strip_prefix('.')) {
            Some("flac") => Ok(ListenFormat::Flac),
            Some("mp3") => Ok(ListenFormat::Mp3),
            None | Some("ogg" | "opus" | "oga") => Ok(ListenFormat::OggOpus),
            Some(ext) => Err(ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                "format_unavailable",
                format!(
                    "this server does not serve {} listening; /{id}, /{id}.ogg and /{id}.opus serve Ogg/Opus, \
                     /{id}.flac lossless Ogg FLAC, /{id}.mp3 MP3, and /api/streams/{id}/hls/index.m3u8 \
                     Opus and FLAC over HLS",
                    ext.to_uppercase()
                ),
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ListenFormat::OggOpus | ListenFormat::Flac => "audio/ogg",
            ListenFormat::Mp3 => "audio/mpeg",
        }
    }
}

/// Whether `hub`'s stream has a lossless (FLAC) rung: `/{id}.flac` and the HLS/DASH FLAC
/// variant serve it. FLAC codes up to 8 channels at any rate a stream may have.
pub fn lossless_available(hub: &StreamHub) -> bool {
    hub.codecs.flac_format().is_some()
}

fn no_lossless(hub: &StreamHub) -> ApiError {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "format_unavailable",
        format!(
            "stream '{}' has {} channels at {} Hz, which FLAC cannot code (1 to 8 channels); listen to /{}.ogg",
            hub.id, hub.spec.channels, hub.spec.sample_rate, hub.id
        ),
    )
}

/// `?rung=<kbps>` for an MP3 listener, or 128 kbit/s.
fn pick_mp3_kbps(q: &QueryMap) -> Result<u32, ApiError> {
    match q.0.get("rung").map(String::as_str) {
        None | Some("auto") => Ok(MP3_DEFAULT_KBPS),
        Some(v) => v.parse::<u32>().ok().filter(|k| MP3_BITRATES.contains(k)).ok_or_else(|| {
            let offered: Vec<String> = MP3_BITRATES.iter().map(u32::to_string).collect();
            ApiError::bad_request(
                "bad_rung",
                format!("MP3 rung '{v}' is not offered; use auto (128) or one of: {}", offered.join(", ")),
            )
        }),
    }
}

/// A listener's framing (Ogg/Opus, Ogg FLAC or MP3), plus the mount's own counts
/// (status-json.xsl).
struct MountListener<T> {
    framing: T,
    mount: Arc<Mount>,
    _count: ListenerCount,
    connection: u64,
}

impl<T> MountListener<T> {
    fn new(framing: T, mount: &Arc<Mount>, connection: u64) -> Self {
        MountListener { framing, mount: mount.clone(), _count: mount.count_listener(), connection }
    }
}

impl<T: Transport> Framer<Arc<HubFrame>> for MountListener<T> {
    type Bytes = Bytes;

    fn audio(&mut self, frames: &[Arc<HubFrame>]) -> Bytes {
        self.framing.audio(frames)
    }

    fn payload_bytes(&self, frames: &[Arc<HubFrame>]) -> u64 {
        self.framing.payload_bytes(frames)
    }
}

impl<T: Transport> Transport for MountListener<T> {
    fn notice(&mut self, hub: &StreamHub, notice: &SessionNotice) -> Option<Bytes> {
        self.framing.notice(hub, notice)
    }

    fn unsent_dropped(&mut self, messages: usize) {
        self.framing.unsent_dropped(messages);
    }

    fn on_skip(&mut self, skipped_frames: u64, last_sent: Option<&Bytes>) -> SkipAction {
        self.mount.skipped_frames.fetch_add(skipped_frames, Ordering::Relaxed);
        let action = self.framing.on_skip(skipped_frames, last_sent);
        if action == SkipAction::Disconnect {
            self.mount.lagging_disconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!(mount = %self.mount.id, connection = self.connection,
                "HTTP listener disconnected: too far behind (icecast.disconnect_lagging)");
        }
        action
    }
}

impl<T> Heartbeat for MountListener<T> {
    fn heartbeat(&mut self) -> Bytes {
        // never asked: Ogg and MP3 listeners get no heartbeat (the audio is continuous)
        Bytes::new()
    }
}

/// Ogg/Opus: Opus rungs only; lossless is `/{id}.flac` (and the WebSocket route's PCM).
const OGG_RUNGS: RungOffer = RungOffer {
    transport: "Ogg/Opus",
    pcm: false,
    lossless_elsewhere: Some("/{id}.flac (Ogg FLAC) or /api/streams/{id}/ws?quality=lossless (PCM)"),
};

/// `?rung=<kbps>` or `?quality=<level>`, or the best rung the stream's quality cap allows.
fn pick_rung(mount: &Mount, q: &QueryMap) -> Result<usize, ApiError> {
    if mount.hub.ladder.rungs.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_opus_ladder",
            format!(
                "stream '{}' is {} Hz, which Opus cannot code, so it has no Ogg/Opus egress; use /{}.flac (lossless), /{}.mp3, or the SSE or WebSocket PCM routes",
                mount.id, mount.hub.spec.sample_rate, mount.id, mount.id
            ),
        ));
    }
    let choice = rung_choice(&mount.hub, q, OGG_RUNGS)?;
    // some: the ladder is not empty, and PCM is not offered here (0 is never used)
    Ok(effective_rung(&mount.hub, choice, mount.hub.control().quality).unwrap_or(0))
}

/// The response head; `kbps` is 0 for the lossless rung (no nominal bitrate).
fn response(
    app: &SharedState,
    mount: &Mount,
    format: ListenFormat,
    kbps: u32,
    body: Body,
    icy: bool,
) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
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
        if kbps > 0 {
            put("icy-br", kbps.to_string());
        }
        put("icy-pub", if info.as_ref().and_then(|i| i.public).unwrap_or(false) { "1" } else { "0" }.into());
        if let Some(i) = info {
            for (k, v) in [("icy-description", i.description), ("icy-genre", i.genre), ("icy-url", i.url)] {
                if let Some(v) = v {
                    put(k, v);
                }
            }
        }
        put("icy-server-name", app.icecast.config.server_name.clone());
        // in-band metadata in MP3 only: Icecast never puts ICY blocks in Ogg (its titles
        // travel in the Ogg comment headers), and a player would read them as Ogg pages
        if format == ListenFormat::Mp3 {
            put("icy-metaint", ICY_METAINT.to_string());
        }
        put(
            "ice-audio-info",
            match kbps {
                0 => {
                    format!("channels={};samplerate={}", mount.hub.spec.channels, mount.hub.spec.sample_rate)
                }
                _ => format!(
                    "channels={};samplerate={};bitrate={kbps}",
                    mount.hub.spec.channels, mount.hub.spec.sample_rate
                ),
            },
        );
    }
    resp
}
