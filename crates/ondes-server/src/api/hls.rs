//! LL-HLS routes: `GET /api/streams/{id}/hls/index.m3u8` (one variant per Opus rung, and
//! the lossless FLAC variant) and, per rung, `…/hls/{kbps}/media.m3u8` (`…/hls/flac/…` for
//! the lossless one), `init.mp4`, `seg{n}.m4s`, `seg{n}.{p}.m4s`.
//!
//! Playlists honour `_HLS_msn`/`_HLS_part` (held until that part exists, 400 when it is too
//! far ahead) and `_HLS_skip=YES|v2` (delta update); `?ll=0` gives a plain live playlist
//! for players without low-latency support (players that ignore unknown tags can use the
//! default one too). Media is cacheable (`max-age`), playlists are `no-cache`. The bytes
//! come from the rung's shared segmenter ([`crate::egress::hls`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ondes_core::hls::playlist::PlaylistOptions;
use ondes_core::quality::QualityLevel;

use crate::auth::{AuthError, Permission};
use crate::egress::dash::bandwidth_bps;
use crate::egress::hls::{HlsError, RungSegmenter, StartError};
use crate::http::QueryMap;
use crate::http::StreamId;
use crate::http::admission::bearer_token;
use crate::http::error::ApiError;
use crate::hub::StreamHub;
use crate::icecast::listen::lossless_available;
use crate::state::SharedState;

pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
pub const MP4_TYPE: &str = "audio/mp4";

/// The stream, after the listening token check (when the config requires one).
pub fn listen_hub(
    app: &SharedState,
    id: &str,
    headers: &HeaderMap,
    q: &QueryMap,
) -> Result<Arc<StreamHub>, ApiError> {
    let hub = app.hub(id)?;
    let required = app.config.auth.required_for_stream;
    let token = bearer_token(headers, q);
    if required || token.is_some() {
        match app.auth.authorize(token.as_deref(), Permission::Subscribe, Some(id)) {
            Ok(_) | Err(AuthError::Forbidden(_)) if !required => {}
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(reason) = hub.control().ended {
        return Err(ApiError::new(
            StatusCode::GONE,
            "stream_ended",
            format!("stream '{id}' has ended: {reason}"),
        ));
    }
    Ok(hub)
}

pub fn start_error(e: StartError) -> ApiError {
    let msg = e.to_string();
    match e {
        StartError::NoRung { .. } => ApiError::new(StatusCode::NOT_FOUND, "unknown_rung", msg),
        StartError::NoOpus(_)
        | StartError::NoLossless(_)
        | StartError::Channels { .. }
        | StartError::Layout { .. } => ApiError::new(StatusCode::CONFLICT, "hls_unavailable", msg),
    }
}

pub fn wait_error(e: HlsError, what: &str) -> ApiError {
    let msg = format!("{what}: {e}");
    match e {
        HlsError::TooFar => ApiError::bad_request("too_far_ahead", msg),
        HlsError::Gone => ApiError::new(StatusCode::NOT_FOUND, "not_in_window", msg),
        HlsError::Timeout | HlsError::Stopped => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_available", msg).with_retry_after(1)
        }
    }
}

/// How long a blocking request is held: three target durations, as LL-HLS says.
pub fn hold(seg: &RungSegmenter) -> Duration {
    Duration::from_secs_f64(3.0 * seg.layout().segment_secs().ceil().max(1.0))
}

fn with_type(body: impl Into<Body>, content_type: &'static str, cache: String) -> Response {
    let mut r = Response::new(body.into());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    r
}

/// A playlist or manifest: never cached (a CDN must ask again every time).
pub fn no_cache(body: String, content_type: &'static str) -> Response {
    with_type(body, content_type, "no-cache".into())
}

fn media(app: &SharedState, body: impl Into<Body>) -> Response {
    with_type(body, MP4_TYPE, format!("public, max-age={}", app.config.hls.max_age_secs))
}

/// `GET …/hls/index.m3u8`: the multivariant playlist.
pub async fn multivariant(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<Response, ApiError> {
    crate::cluster::edge::ensure_stream(&app, &id, None).await;
    let hub = listen_hub(&app, &id, &headers, &q)?;
    let lossless = lossless_available(&hub);
    if hub.ladder.rungs.is_empty() && !lossless {
        return Err(start_error(StartError::NoOpus(id)));
    }
    app.hls.layout(&hub).map_err(start_error)?;
    let mut o = String::from("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    // a token given in the query travels on to the media playlists
    let suffix = q.0.get("access_token").map(|t| format!("?access_token={t}")).unwrap_or_default();
    for k in hub.ladder.kbps() {
        o.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"opus\",CHANNELS=\"{}\"\n{k}/media.m3u8{suffix}\n",
            bandwidth_bps(k),
            u64::from(k) * 1000 + 8_000,
            hub.spec.channels
        ));
    }
    if lossless {
        let (peak, average) = flac_bandwidth_bps(&hub);
        o.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS=\"fLaC\",CHANNELS=\"{}\"\nflac/media.m3u8{suffix}\n",
            hub.spec.channels
        ));
    }
    Ok(no_cache(o, PLAYLIST_TYPE))
}

/// The lossless variant's (peak, average) bandwidth, bits/s. Peak: FLAC never codes a
/// frame much above the 16-bit PCM it comes from (a verbatim subframe is that size), plus
/// the frame and fMP4 headers. Average: what the rung has sent so far when it has run, else
/// 60 % of the PCM rate (typical of music).
pub fn flac_bandwidth_bps(hub: &StreamHub) -> (u64, u64) {
    let pcm = u64::from(hub.spec.sample_rate) * u64::from(hub.spec.channels) * 16;
    let fps = hub.spec.frames_per_second();
    // per frame: FLAC frame header (≤ 16 bytes) and 8 bytes of `trun`; per part ≈ 100 bytes
    let overhead = (fps * 24.0 * 8.0) as u64 + 8_000;
    let measured = hub
        .codecs
        .stats()
        .into_iter()
        .find(|s| s.rung == "flac" && s.frames_encoded > 0)
        .map(|s| (s.bytes_out as f64 * 8.0 / s.frames_encoded as f64 * fps) as u64);
    (pcm + overhead, measured.unwrap_or(pcm * 6 / 10) + overhead)
}

/// A number in a query parameter, or a 400 naming it.
fn number(q: &QueryMap, key: &str) -> Result<Option<u64>, ApiError> {
    q.0.get(key)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad_request("bad_query", format!("{key} must be a whole number ≥ 0 (got '{v}')"))
            })
        })
        .transpose()
}

/// A rung named in a path: its bitrate, or a quality level (`hls/high/media.m3u8` is the
/// top rung's playlist, whatever the stream's ladder).
fn rung_kbps(hub: &StreamHub, name: &str) -> Result<u32, ApiError> {
    let ladder = hub.ladder.kbps();
    let level = name.parse::<QualityLevel>().ok();
    let kbps = match level {
        Some(l) => l.rung_index(&ladder).map(|i| ladder[i]),
        None => name.parse::<u32>().ok(),
    };
    kbps.ok_or_else(|| {
        ApiError::not_found(format!(
            "'{name}' is not a rung of '{}'; its rungs are {ladder:?} (kbit/s), or low, medium, high, and flac (lossless)",
            hub.id
        ))
    })
}

/// `GET …/hls/{kbps}/{file}`: a rung's media playlist, init segment, segments and parts.
pub async fn rung_file(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    Path(params): Path<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<Response, ApiError> {
    crate::cluster::edge::ensure_stream(&app, &id, None).await;
    let hub = listen_hub(&app, &id, &headers, &q)?;
    let kbps_text = params.get("kbps").map(String::as_str).unwrap_or("");
    let file = params.get("file").map(String::as_str).unwrap_or("");
    // the lossless rung by name, or as the `lossless` quality level
    let seg = if matches!(kbps_text, "flac" | "lossless") {
        app.hls.get_flac(&hub).map_err(start_error)?
    } else {
        let kbps = rung_kbps(&hub, kbps_text)?;
        app.hls.get(&hub, kbps).map_err(start_error)?
    };
    match file {
        "media.m3u8" => playlist(&seg, &q).await,
        "init.mp4" => Ok(media(&app, seg.init.clone())),
        other => {
            let name = other.strip_prefix("seg").and_then(|s| s.strip_suffix(".m4s")).ok_or_else(|| {
                ApiError::not_found(format!(
                    "no file '{other}' here; a rung has media.m3u8, init.mp4, seg<N>.m4s and seg<N>.<P>.m4s"
                ))
            })?;
            let bad = || ApiError::not_found(format!("'{other}' is not a segment or part name"));
            match name.split_once('.') {
                Some((m, p)) => {
                    let (msn, part) = (m.parse().map_err(|_| bad())?, p.parse().map_err(|_| bad())?);
                    part_file(&app, &seg, msn, part).await
                }
                None => segment_file(&app, seg, name.parse().map_err(|_| bad())?).await,
            }
        }
    }
}

/// What a media playlist request asks for: the part to wait for, a delta update, LL or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlaylistQuery {
    pub msn: Option<u64>,
    pub part: Option<u64>,
    pub skip: bool,
    pub low_latency: bool,
}

impl PlaylistQuery {
    pub(crate) fn parse(q: &QueryMap) -> Result<PlaylistQuery, ApiError> {
        let msn = number(q, "_HLS_msn")?;
        let part = number(q, "_HLS_part")?;
        if part.is_some() && msn.is_none() {
            return Err(ApiError::bad_request("bad_query", "_HLS_part needs _HLS_msn"));
        }
        let skip = match q.0.get("_HLS_skip").map(String::as_str) {
            None => false,
            Some("YES" | "v2") => true,
            Some(v) => {
                return Err(ApiError::bad_request(
                    "bad_query",
                    format!("_HLS_skip is YES or v2 (got '{v}')"),
                ));
            }
        };
        let low_latency = !matches!(q.0.get("ll").map(String::as_str), Some("0" | "false" | "no"));
        Ok(PlaylistQuery { msn, part, skip, low_latency })
    }
}

async fn playlist(seg: &Arc<RungSegmenter>, q: &QueryMap) -> Result<Response, ApiError> {
    let PlaylistQuery { msn, part, skip, low_latency } = PlaylistQuery::parse(q)?;
    let hold = hold(seg);
    if let Some(msn) = msn {
        seg.wait_for(msn, part, hold).await.map_err(|e| wait_error(e, "the playlist update asked for"))?;
    }
    // a segmenter just started has nothing to list: wait for its first segment
    seg.wait_until(hold, |s| Ok(s.last_complete_msn().is_some()))
        .await
        .map_err(|e| wait_error(e, "the first segment"))?;
    Ok(no_cache(seg.playlist(PlaylistOptions { low_latency, skip }), PLAYLIST_TYPE))
}

/// A part: held until it exists when it is the next one (the preload hint).
async fn part_file(
    app: &SharedState,
    seg: &RungSegmenter,
    msn: u64,
    part: u64,
) -> Result<Response, ApiError> {
    if part >= seg.layout().parts_per_segment {
        return Err(ApiError::not_found(format!("segments have {} parts", seg.layout().parts_per_segment)));
    }
    seg.wait_for(msn, Some(part), hold(seg)).await.map_err(|e| match e {
        HlsError::TooFar => ApiError::not_found(format!("part {msn}.{part} is too far ahead")),
        e => wait_error(e, "that part"),
    })?;
    let bytes =
        seg.part(msn, part).ok_or_else(|| ApiError::not_found(format!("part {msn}.{part} is gone")))?;
    Ok(media(app, bytes))
}

/// A segment: complete ones at once with their length; the one being written (or the next)
/// as its parts come, in chunks (DASH low latency).
async fn segment_file(app: &SharedState, seg: Arc<RungSegmenter>, msn: u64) -> Result<Response, ApiError> {
    // wait for its first part (a request up to two segments ahead is held)
    seg.wait_until(hold(&seg), |s| {
        if s.segment(msn).is_some() {
            return Ok(true);
        }
        match s.last_part() {
            Some((m, _)) if m > msn => Err(HlsError::Gone),
            Some((m, _)) if msn > m + 2 => Err(HlsError::TooFar),
            _ => Ok(false),
        }
    })
    .await
    .map_err(|e| match e {
        HlsError::TooFar => ApiError::not_found(format!("segment {msn} is too far ahead")),
        e => wait_error(e, "that segment"),
    })?;
    match seg.segment_parts(msn) {
        Some((parts, true)) => {
            let len: usize = parts.iter().map(|b| b.len()).sum();
            let stream = futures_util::stream::iter(parts.into_iter().map(Ok::<_, std::io::Error>));
            let mut r = media(app, Body::from_stream(stream));
            r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            Ok(r)
        }
        Some((_, false)) => {
            let hold = hold(&seg);
            Ok(media(app, Body::from_stream(seg.segment_stream(msn, hold))))
        }
        None => Err(ApiError::not_found(format!("segment {msn} is gone"))),
    }
}

impl IntoResponse for HlsError {
    fn into_response(self) -> Response {
        wait_error(self, "request").into_response()
    }
}
