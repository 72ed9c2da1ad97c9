//! LL-HLS listeners, each behaving like hls.js in low-latency mode on one HTTP/1.1
//! keep-alive connection: the multivariant playlist once, the rung's media playlist once,
//! then a loop of blocking playlist reloads (`_HLS_msn`/`_HLS_part` of the next part, and
//! `_HLS_skip=YES` for a delta update when the playlist has `CAN-SKIP-UNTIL`) and a `GET` of
//! each new part. It does not decode audio.
//!
//! Counted per listener: parts received and parts missed ([`PartTracker`]: a part that rolled
//! out of the playlist, or answered 404, before the listener got it), bytes, and, as frames,
//! the audio of each part in 20 ms units (so gaps and stalls read as for the other
//! transports). Shared: the blocking reload's request → response time, and how long after
//! the part existed the reload that lists it came back ("late"): the response time minus the
//! part's place on the part clock (`position × part duration`), less the listener's smallest
//! such difference (its best case, ≈ the instant the server completes a part).

use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::watch;

use super::keepalive::KeepAlive;
use super::{Dialer, ReadEnd, RunShared};
use crate::bench::m3u8::{MediaPlaylist, PartTracker};
use crate::bench::sse_scan::AudioMeta;
use crate::bench::stats::{ListenerStats, Window};

/// Seconds of audio per counted frame.
const UNIT_SECS: f64 = 0.020;

/// Where and what to request; shared by all listeners.
#[derive(Debug)]
pub(crate) struct HlsTarget {
    dialer: Dialer,
    host_header: String,
    /// Path (and query) of the multivariant playlist.
    multivariant: String,
    /// The media playlist, when the URL named one; else picked from the multivariant.
    media: Option<String>,
    /// Variant to pick: its URI starts with `{rung}/` (e.g. `64`, `flac`).
    rung: Option<String>,
    token: Option<String>,
}

impl HlsTarget {
    /// `path_and_query` is a multivariant playlist (`…/index.m3u8`) or a rung's media
    /// playlist (`…/{rung}/media.m3u8`, whose multivariant is `…/index.m3u8`).
    pub fn new(
        dialer: Dialer,
        host_header: &str,
        path_and_query: &str,
        rung: Option<&str>,
        token: Option<&str>,
    ) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, format!("?{q}")),
            None => (path_and_query, String::new()),
        };
        let (multivariant, media) = match path.strip_suffix("/media.m3u8") {
            Some(rung_dir) => {
                let hls_dir = rung_dir.rsplit_once('/').map_or("", |(d, _)| d);
                (format!("{hls_dir}/index.m3u8{query}"), Some(path_and_query.to_string()))
            }
            None => (path_and_query.to_string(), None),
        };
        Self {
            dialer,
            host_header: host_header.to_string(),
            multivariant,
            media,
            rung: rung.map(str::to_string),
            token: token.map(str::to_string),
        }
    }
}

/// A listener that has its media playlist.
#[derive(Debug)]
pub(crate) struct HlsConnection {
    http: KeepAlive,
    /// The media playlist's path, without query, and its query (`?…` or empty).
    media_path: String,
    media_query: String,
    playlist: MediaPlaylist,
    pps: Option<u64>,
    tracker: PartTracker,
    /// Response instant − part clock, in seconds since `t_ref`, of each reload in the window.
    clock: Vec<f64>,
    t_ref: Instant,
}

/// Fetches the multivariant playlist and the rung's media playlist.
pub(crate) async fn connect(target: &HlsTarget) -> Result<HlsConnection, String> {
    let mut http = KeepAlive::new(target.dialer.clone(), &target.host_header, target.token.as_deref());
    let r = http.get(&target.multivariant).await?;
    if r.status != 200 {
        return Err(format!("http_{}", r.status));
    }
    let text = String::from_utf8_lossy(&r.body);
    let media = match &target.media {
        Some(m) => m.clone(),
        None => {
            let variants: Vec<&str> =
                text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
            let pick = match &target.rung {
                Some(rung) => variants.iter().find(|v| v.starts_with(&format!("{rung}/"))),
                None => variants.first(),
            };
            let uri = pick.ok_or_else(|| "no_such_variant".to_string())?;
            resolve(&target.multivariant, uri)
        }
    };
    let (media_path, media_query) = match media.split_once('?') {
        Some((p, q)) => (p.to_string(), format!("?{q}")),
        None => (media.clone(), String::new()),
    };
    let r = http.get(&media).await?;
    if r.status != 200 {
        return Err(format!("http_{}", r.status));
    }
    let playlist = MediaPlaylist::parse(&String::from_utf8_lossy(&r.body))?;
    Ok(HlsConnection {
        http,
        media_path,
        media_query,
        pps: playlist.parts_per_segment,
        playlist,
        tracker: PartTracker::default(),
        clock: Vec::new(),
        t_ref: Instant::now(),
    })
}

/// `uri` relative to the playlist at `base` (a path, maybe with a query).
fn resolve(base: &str, uri: &str) -> String {
    if uri.starts_with('/') {
        return uri.to_string();
    }
    let base = base.split('?').next().unwrap_or(base);
    let dir = base.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{dir}/{uri}")
}

impl HlsConnection {
    /// Plays until the run is stopped or the connection fails.
    pub async fn run(
        &mut self,
        shared: &RunShared,
        stats: &mut ListenerStats,
        stop: &mut watch::Receiver<bool>,
    ) -> ReadEnd {
        shared.frame_duration_us.store(20_000, Ordering::Relaxed);
        let end = tokio::select! {
            biased;
            _ = stop.changed() => ReadEnd::Stopped,
            end = self.play(shared, stats) => end,
        };
        // the listener's best case is its own zero: lateness is what came on top of it
        if let Some(best) = self.clock.iter().copied().reduce(f64::min) {
            for c in &self.clock {
                shared.part_late.record_ms((c - best) * 1000.0);
            }
        }
        end
    }

    async fn play(&mut self, shared: &RunShared, stats: &mut ListenerStats) -> ReadEnd {
        loop {
            if let Some(end) = self.fetch_new_parts(shared, stats).await {
                return end;
            }
            if let Some(end) = self.reload(shared, stats).await {
                return end;
            }
        }
    }

    /// Gets every listed part this listener does not have yet.
    async fn fetch_new_parts(&mut self, shared: &RunShared, stats: &mut ListenerStats) -> Option<ReadEnd> {
        self.pps = self.pps.or(self.playlist.parts_per_segment);
        let pps = self.pps?;
        let missed_before = self.tracker.missed;
        let want: Vec<(u64, String, f64)> = self
            .tracker
            .to_fetch(&self.playlist, pps)
            .into_iter()
            .map(|p| (p.msn * pps + p.index, resolve(&self.media_path, &p.uri), p.duration))
            .collect();
        self.count_missed(shared, stats, missed_before);
        for (pos, path, duration) in want {
            let r = match self.http.get(&path).await {
                Ok(r) => r,
                Err(e) => return Some(ReadEnd::Failed(e)),
            };
            let counting = stats.follow_window(shared.window());
            if counting {
                stats.counters.bytes += r.wire_bytes;
            }
            let got = r.status == 200;
            if !got && r.status != 404 {
                return Some(ReadEnd::Failed(format!("part_http_{}", r.status)));
            }
            let missed_before = self.tracker.missed;
            self.tracker.done(pos, got);
            self.count_missed(shared, stats, missed_before);
            if got && stats.window != Window::After {
                let part_secs = if duration > 0.0 { duration } else { self.part_secs() };
                let units = (part_secs / UNIT_SECS).round().max(1.0) as u32;
                let first = (pos as f64 * self.part_secs() / UNIT_SECS).round() as u64;
                let meta = AudioMeta {
                    frame_number: first,
                    timestamp_ms: 0.0,
                    frames: units,
                    duration_ms: Some(20.0),
                };
                stats.on_audio(&meta, Instant::now());
                if counting {
                    stats.counters.parts += 1;
                    shared.frames.fetch_add(u64::from(units), Ordering::Relaxed);
                }
            }
        }
        None
    }

    fn count_missed(&self, shared: &RunShared, stats: &mut ListenerStats, before: u64) {
        if stats.follow_window(shared.window()) {
            stats.counters.parts_missed += self.tracker.missed - before;
        }
    }

    fn part_secs(&self) -> f64 {
        self.playlist.part_target.filter(|t| *t > 0.0).unwrap_or(0.2)
    }

    /// The blocking reload for the next part (the preload hint until the layout is known).
    async fn reload(&mut self, shared: &RunShared, stats: &mut ListenerStats) -> Option<ReadEnd> {
        let target = match (self.pps, self.tracker.next) {
            (Some(pps), Some(next)) => Some((next / pps, next % pps, Some(next))),
            _ => self.playlist.preload_hint.as_ref().map(|h| (h.msn, h.index, None)),
        };
        let sep = if self.media_query.is_empty() { '?' } else { '&' };
        let path = match target {
            // a delta update when the playlist allows one, as hls.js asks
            Some((m, p, _)) => format!(
                "{}{}{sep}_HLS_msn={m}&_HLS_part={p}{}",
                self.media_path,
                self.media_query,
                if self.playlist.can_skip { "&_HLS_skip=YES" } else { "" }
            ),
            None => format!("{}{}", self.media_path, self.media_query),
        };
        let sent = Instant::now();
        let mut r = match self.http.get(&path).await {
            Ok(r) => r,
            Err(e) => return Some(ReadEnd::Failed(e)),
        };
        let mut now = Instant::now();
        let counting = stats.follow_window(shared.window());
        if counting {
            stats.counters.bytes += r.wire_bytes;
        }
        let direct = r.status == 200;
        if matches!(r.status, 400 | 404) {
            // the part asked for is too far ahead or already gone: the playlist as it is
            // (the parts that rolled out are counted as missed from it)
            r = match self.http.get(&format!("{}{}", self.media_path, self.media_query)).await {
                Ok(r) => r,
                Err(e) => return Some(ReadEnd::Failed(e)),
            };
            now = Instant::now();
            if counting {
                stats.counters.bytes += r.wire_bytes;
            }
        }
        match r.status {
            200 => {}
            // held too long (the source paused): ask again
            503 => return None,
            s => return Some(ReadEnd::Failed(format!("playlist_http_{s}"))),
        }
        if counting && direct {
            shared.reload.record_ms(now.duration_since(sent).as_secs_f64() * 1000.0);
            if let Some((_, _, Some(pos))) = target {
                let at = now.duration_since(self.t_ref).as_secs_f64();
                self.clock.push(at - pos as f64 * self.part_secs());
            }
        }
        match MediaPlaylist::parse(&String::from_utf8_lossy(&r.body)) {
            Ok(pl) => {
                self.playlist = pl;
                None
            }
            Err(e) => Some(ReadEnd::Failed(e)),
        }
    }
}
