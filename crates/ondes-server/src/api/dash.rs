//! `GET /api/streams/{id}/dash/manifest.mpd`: the DASH manifest over the LL-HLS segments
//! ([`crate::egress::dash`]). Asking for it starts every rung's segmenter (a DASH client
//! may pick any representation) and waits for the first one's first segment.
//!
//! The lossless (FLAC) rung is a second adaptation set when asked for with `?lossless=1`,
//! and always on a stream that has no Opus rungs (its rate is not one Opus codes). Not by
//! default: it would keep a FLAC encoder and segmenter running for every DASH client, and
//! some players (ffmpeg) read every adaptation set at once.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::hls::{flac_bandwidth_bps, hold, listen_hub, no_cache, start_error, wait_error};
use crate::clock::now_us;
use crate::egress::dash::DashManifest;
use crate::egress::hls::StartError;
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::icecast::listen::lossless_available;
use crate::state::SharedState;

pub const MPD_TYPE: &str = "application/dash+xml";

/// `GET /api/time/iso`: the server's clock, ISO 8601 with milliseconds (`urn:mpeg:dash:utc:http-iso:2014`).
pub async fn time() -> Response {
    no_cache(crate::egress::dash::iso8601(now_us()), "text/plain; charset=utf-8")
}

pub async fn manifest(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<Response, ApiError> {
    crate::cluster::edge::ensure_stream(&app, &id, None).await;
    let hub = listen_hub(&app, &id, &headers, &q)?;
    let kbps = hub.ladder.kbps();
    let asked = matches!(q.0.get("lossless").map(String::as_str), Some("1" | "true" | "yes"));
    let lossless = lossless_available(&hub) && (asked || kbps.is_empty());
    if kbps.is_empty() && !lossless {
        return Err(start_error(StartError::NoOpus(id)));
    }
    let mut lowest = None;
    for k in &kbps {
        let s = app.hls.get(&hub, *k).map_err(start_error)?;
        lowest.get_or_insert(s);
    }
    if lossless {
        let s = app.hls.get_flac(&hub).map_err(start_error)?;
        lowest.get_or_insert(s);
    }
    let Some(seg) = lowest else { return Err(start_error(StartError::NoOpus(id))) };
    seg.wait_until(hold(&seg), |s| Ok(s.last_complete_msn().is_some()))
        .await
        .map_err(|e| wait_error(e, "the first segment"))?;
    let layout = seg.layout();
    let m = DashManifest {
        layout,
        kbps: &kbps,
        channels: hub.spec.channels,
        sample_rate: hub.spec.sample_rate,
        epoch_us: seg.epoch_us(),
        now_us: now_us(),
        // a segment and its first part: dash.js fetches the segment being written as it grows,
        // so it needs the part made, not the whole segment (1.5 segments left it at 1.55 s)
        latency_ms: ((layout.segment_secs() + layout.part_secs()) * 1000.0) as u64,
        flac_bandwidth: lossless.then(|| flac_bandwidth_bps(&hub).0),
    };
    Ok(no_cache(m.render(), MPD_TYPE))
}
