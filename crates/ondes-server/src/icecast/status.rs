//! `GET /status-json.xsl`: the stream list in the shape of Icecast's status JSON, so that
//! existing Icecast monitoring (dashboards, `icecast-metadata-stats`, Munin/Zabbix scripts)
//! works unchanged.
//!
//! As Icecast does, `icestats.source` is absent when no mount is live, an object when one is,
//! and an array when several are; a mount fed by Icecast sources is listed only while a source
//! is connected. Fields ondes adds are under `ondes` in each source, where Icecast tools
//! ignore them.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

use super::mount::Mount;
use crate::state::SharedState;

pub async fn status_json(State(app): State<SharedState>, headers: HeaderMap) -> axum::Json<Value> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| app.config.server.bind.clone());
    let started_ms = crate::clock::now_ms() - app.started.elapsed().as_millis() as i64;
    // the streams at the time of the request, created on demand ones included
    let mut sources: Vec<Value> =
        app.streams.list().iter().filter_map(|s| source_entry(&app, &s.entry.mount, &host)).collect();
    let mut stats = json!({
        "admin": "",
        "host": host.split(':').next().unwrap_or(&host),
        "location": "",
        "server_id": format!("ondes {} (Icecast-compatible)", env!("CARGO_PKG_VERSION")),
        "server_start": rfc822(started_ms / 1000),
        "server_start_iso8601": iso8601(started_ms / 1000),
    });
    if sources.len() == 1 {
        stats["source"] = sources.remove(0);
    } else if !sources.is_empty() {
        stats["source"] = Value::Array(sources);
    }
    axum::Json(json!({ "icestats": stats }))
}

fn source_entry(app: &SharedState, m: &Mount, host: &str) -> Option<Value> {
    let hub = &m.hub;
    if hub.control().ended.is_some() {
        return None;
    }
    let info = match &m.source {
        Some(slot) => Some(slot.info.lock().clone()?),
        None => None,
    };
    let i = info.clone().unwrap_or_default();
    let started_ms = if info.is_some() { i.connected_at_ms } else { hub.started_at_ms() };
    let best_kbps = hub.ladder.kbps().last().copied();
    let bitrate = i.bitrate.or(best_kbps);
    let spec = hub.spec;
    let audio_info = i.audio_info.clone().unwrap_or_else(|| {
        let br = bitrate.map(|b| format!(";bitrate={b}")).unwrap_or_default();
        format!("channels={};samplerate={}{br}", spec.channels, spec.sample_rate)
    });
    Some(json!({
        "audio_info": audio_info,
        "bitrate": bitrate,
        "channels": spec.channels,
        "genre": i.genre.unwrap_or_else(|| "various".into()),
        "listener_peak": m.listener_peak.load(Ordering::Relaxed),
        "listeners": m.listeners.load(Ordering::Relaxed),
        "listenurl": format!("http://{host}/{}", m.id),
        "samplerate": spec.sample_rate,
        "server_description": i.description.unwrap_or_else(|| hub.source_description()),
        "server_name": i.name.unwrap_or_else(|| m.id.clone()),
        "server_type": "audio/ogg",
        "server_url": i.url,
        "stream_start": rfc822(started_ms / 1000),
        "stream_start_iso8601": iso8601(started_ms / 1000),
        "subtype": "Opus",
        "title": m.title.get().as_deref(),
        "dummy": null,
        "ondes": mount_details(app, m),
    }))
}

/// The mount's Icecast-side state, as ondes reports it (in status JSON under `ondes`, and
/// in `/api/streams/{id}/stats` under `icecast`, where it stays visible with no source).
pub fn mount_details(app: &SharedState, m: &Mount) -> Value {
    let slot = m.source.as_ref();
    let info = slot.and_then(|s| s.info.lock().clone());
    json!({
        "mount": format!("/{}", m.id),
        "icecast_source": slot.is_some(),
        "source_connected": info.is_some(),
        "source": info,
        "bytes_received": slot.map(|s| s.bytes_received.load(Ordering::Relaxed)),
        "sources_refused": slot.map(|s| s.sessions_refused.load(Ordering::Relaxed)),
        "last_source_error": slot.and_then(|s| s.last_error.lock().clone()),
        "listeners": m.listeners.load(Ordering::Relaxed),
        "listener_peak": m.listener_peak.load(Ordering::Relaxed),
        "all_listeners": m.hub.stats.active_subscribers.load(Ordering::Relaxed),
        "skipped_frames": m.skipped_frames.load(Ordering::Relaxed),
        "lagging_disconnects": m.lagging_disconnects.load(Ordering::Relaxed),
        "rungs_kbps": m.hub.ladder.kbps(),
        "feeds": m.active_feeds().iter().map(|(k, n)| json!({"kbps": k, "listeners": n})).collect::<Vec<_>>(),
        "page_ms": app.icecast.config.page_ms,
    })
}

/// Icecast's `%Y-%m-%dT%H:%M:%S%z`, in UTC.
pub fn iso8601(secs: i64) -> String {
    let (y, mo, d, h, mi, s, _) = crate::clock::civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+0000")
}

/// Icecast's `%a, %d %b %Y %H:%M:%S %z`, in UTC.
pub fn rfc822(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, mo, d, h, mi, s, wd) = crate::clock::civil(secs);
    format!("{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} +0000", DAYS[wd], MONTHS[(mo - 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00+0000");
        assert_eq!(rfc822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        // 2024-02-29 12:34:56 UTC, a Thursday
        assert_eq!(iso8601(1_709_210_096), "2024-02-29T12:34:56+0000");
        assert_eq!(rfc822(1_709_210_096), "Thu, 29 Feb 2024 12:34:56 +0000");
    }
}
