//! `GET /{mount}` (also `/{mount}.ogg`, `.opus`, `.oga`): Icecast-style listening, Ogg/Opus
//! at one rung of the stream's ladder, playable by ffmpeg, mpv, VLC and `<audio>`.
//!
//! Per listener this is a cursor into the rung's shared [`OggFeed`] and one write per
//! wake-up of whatever pages are ready — the feed's own `Bytes`, not a copy: instead of
//! renumbering every page for every listener, a listener's two header pages are numbered to
//! end right before the first audio page it gets (Ogg does not require a stream's first page
//! to be number 0; libogg, ffmpeg and our demuxer take the BOS page's number as the start).
//! Only a listener that was skipped ahead (a gap in the shared numbering) renumbers its pages
//! from then on. A new listener gets the headers and
//! then `icecast.burst_ms` of the most recent pages (default one page: it starts at most one
//! page behind live, where Icecast's 64 KB burst starts seconds behind). A listener that
//! stops reading is not polled by hyper; when it reads again and is more than
//! `server.max_listener_lag_ms` behind, it is skipped ahead to live (counted), or
//! disconnected when `icecast.disconnect_lagging` is set.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use ondes_codec::ogg::{PageRenumberer, page_sequence};
use ondes_codec::ogg_opus::FIRST_AUDIO_PAGE;
use ondes_core::Cursor;
use tokio::sync::watch;

use super::feed::{FeedGuard, FeedRead};
use super::mount::{ListenerCount, Mount, feed_params};
use crate::clock::now_us;
use crate::connections::ConnectionGuard;
use crate::error::ApiError;
use crate::hub::Subscription;
use crate::routes::QueryMap;
use crate::routes::admission::{Admission, admit_listener};
use crate::state::SharedState;

pub async fn listen(
    State(app): State<SharedState>,
    Path(segment): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<Response, ApiError> {
    let mount = app.mount(&segment)?;
    let rung = pick_rung(&mount, &q)?;
    let Admission { hub, guard } = admit_listener(&app, &mount.id, peer, &headers, &q, "http")?;
    let (params, burst_pages) = feed_params(&app.icecast.config, &hub, app.config.server.max_listener_lag_ms);
    let feed = mount.join_feed(rung, params, &app.shutdown);
    let pages = feed.0.watch();
    let cursor = feed.0.cursor(burst_pages);
    let sub = hub.subscribe();
    let listener = Listener {
        _count: mount.count_listener(),
        mount: mount.clone(),
        feed,
        _sub: sub,
        pages,
        cursor,
        renumber: None,
        last_sequence: None,
        guard,
        disconnect_lagging: app.icecast.config.disconnect_lagging,
        headers_sent: false,
        done: false,
        reads: Vec::new(),
        chunks: Vec::new(),
    };
    let icy = headers.get("icy-metadata").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "1");
    Ok(response(&app, &mount, listener, icy))
}

/// `?rung=<kbps>`, or the best rung the stream's quality cap allows.
fn pick_rung(mount: &Mount, q: &QueryMap) -> Result<usize, ApiError> {
    let ladder = &mount.hub.ladder;
    let n = ladder.rungs.len();
    if n == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_opus_ladder",
            format!(
                "stream '{}' is {} Hz, which Opus cannot code, so it has no Ogg/Opus egress; use the SSE or WebSocket PCM routes",
                mount.id, mount.hub.spec.sample_rate
            ),
        ));
    }
    match q.0.get("rung").map(String::as_str) {
        None | Some("auto") => {
            let quality = mount.hub.control().quality as f64;
            Ok(((quality * n as f64).ceil() as usize).clamp(1, n) - 1)
        }
        Some(v) => v.parse::<u32>().ok().and_then(|k| ladder.index_of(k)).ok_or_else(|| {
            let offered: Vec<String> = ladder.kbps().iter().map(u32::to_string).collect();
            ApiError::bad_request(
                "bad_rung",
                format!("rung '{v}' is not offered; use auto or one of: {}", offered.join(", ")),
            )
        }),
    }
}

fn response(app: &SharedState, mount: &Mount, listener: Listener, icy: bool) -> Response {
    let kbps = listener.feed.0.kbps;
    let body = Body::from_stream(futures_util::stream::unfold(listener, |mut l| async move {
        l.next_chunk().await.map(|b| (Ok::<_, Infallible>(b), l))
    }));
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

/// One HTTP listener.
struct Listener {
    _count: ListenerCount,
    mount: Arc<Mount>,
    feed: FeedGuard,
    /// Keeps the listener in the stream's subscriber count (the feed watches the stream's
    /// end and the server's shutdown, and stops).
    _sub: Subscription,
    pages: watch::Receiver<u64>,
    cursor: Cursor,
    /// Set after a skip: the shared pages' numbers jump there, so this listener renumbers
    /// its copies to stay gapless.
    renumber: Option<PageRenumberer>,
    /// Sequence number of the last page sent.
    last_sequence: Option<u32>,
    guard: ConnectionGuard,
    disconnect_lagging: bool,
    headers_sent: bool,
    done: bool,
    reads: Vec<FeedRead>,
    /// What one wake-up sends (kept to reuse its allocation).
    chunks: Vec<Bytes>,
}

impl Listener {
    /// Every page ready now as one chunk (one socket write): the shared page itself when it
    /// is the only one, as it is at every wake-up of a listener that keeps up.
    fn take_pages(&mut self) -> Option<Bytes> {
        let feed = self.feed.0.clone();
        self.reads.clear();
        feed.read(&mut self.cursor, 32, &mut self.reads);
        self.chunks.clear();
        let mut frames = 0u64;
        let mut last_capture = None;
        for r in self.reads.drain(..) {
            match r {
                FeedRead::Page(p) => {
                    // the feed's muxer makes whole pages: the number is there
                    let sequence = page_sequence(&p.bytes).unwrap_or(FIRST_AUDIO_PAGE);
                    if !self.headers_sent {
                        self.headers_sent = true;
                        self.chunks.push(headers_before(&feed.headers, sequence));
                    }
                    let page = match self.renumber.as_mut() {
                        None => p.bytes.clone(),
                        Some(r) => {
                            let mut copy = p.bytes.to_vec();
                            r.renumber(&mut copy);
                            Bytes::from(copy)
                        }
                    };
                    self.last_sequence = page_sequence(&page);
                    self.chunks.push(page);
                    frames += u64::from(p.frames);
                    last_capture = Some(p.capture_us);
                }
                FeedRead::Skipped(pages) => {
                    let skipped = pages * u64::from(feed.frames_per_page);
                    self.guard.info.skipped_frames.fetch_add(skipped, Ordering::Relaxed);
                    self.mount.skipped_frames.fetch_add(skipped, Ordering::Relaxed);
                    self.mount.hub.stats.dropped_frames.fetch_add(skipped, Ordering::Relaxed);
                    if self.disconnect_lagging {
                        self.mount.lagging_disconnects.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(mount = %self.mount.id, connection = self.guard.info.id,
                            "HTTP listener disconnected: too far behind (icecast.disconnect_lagging)");
                        self.done = true;
                        break;
                    }
                    if self.renumber.is_none()
                        && let Some(last) = self.last_sequence
                    {
                        self.renumber = Some(PageRenumberer::new(last.wrapping_add(1)));
                    }
                }
            }
        }
        let out = match self.chunks.len() {
            0 => return None,
            1 => self.chunks.pop()?,
            _ => Bytes::from(self.chunks.concat()),
        };
        let stats = &self.mount.hub.stats;
        stats.events_sent.fetch_add(1, Ordering::Relaxed);
        stats.bytes_sent.fetch_add(out.len() as u64, Ordering::Relaxed);
        let latency = last_capture.map(|c| now_us() - c);
        self.guard.info.record_send(frames, out.len() as u64, latency);
        Some(out)
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.done {
                return None;
            }
            self.pages.borrow_and_update();
            if let Some(b) = self.take_pages() {
                return Some(b);
            }
            if self.done || self.feed.0.is_stopped() || self.pages.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// The feed's `OpusHead` and `OpusTags` pages numbered to end right before page `first_audio`.
fn headers_before(headers: &Bytes, first_audio: u32) -> Bytes {
    if first_audio == FIRST_AUDIO_PAGE {
        return headers.clone();
    }
    let mut copy = headers.to_vec();
    PageRenumberer::new(first_audio.wrapping_sub(FIRST_AUDIO_PAGE)).renumber(&mut copy);
    Bytes::from(copy)
}
