//! The media playlist of one rung, LL-HLS (RFC 8216bis) or plain.
//!
//! Every part of an audio-only stream is independent (each Opus packet decodes alone), so
//! every `EXT-X-PART` carries `INDEPENDENT=YES`. Part lists are kept for the newest few
//! segments only; older segments are listed whole, and with a delta update (`_HLS_skip`)
//! those older than `CAN-SKIP-UNTIL` are replaced by one `EXT-X-SKIP`.

use std::fmt::Write;

use super::{Segment, Segmenter};

/// What a playlist request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlaylistOptions {
    /// The low-latency tags (parts, preload hint, server control); off: a plain live playlist.
    pub low_latency: bool,
    /// A delta update (`_HLS_skip=YES`).
    pub skip: bool,
}

/// Target duration in whole seconds (every `EXTINF` rounds to at most this).
pub fn target_duration(segment_secs: f64) -> u64 {
    segment_secs.ceil().max(1.0) as u64
}

/// Seconds of the playlist's end within which segments are never skipped (6 target durations).
pub fn skip_until(segment_secs: f64) -> f64 {
    6.0 * target_duration(segment_secs) as f64
}

/// Name of segment `msn` (relative to the playlist).
pub fn segment_uri(msn: u64) -> String {
    format!("seg{msn}.m4s")
}

/// Name of part `index` of segment `msn`.
pub fn part_uri(msn: u64, index: u64) -> String {
    format!("seg{msn}.{index}.m4s")
}

/// The media playlist now.
pub fn media_playlist<S, P: Clone>(seg: &Segmenter<S, P>, opts: PlaylistOptions) -> String {
    let layout = seg.layout();
    let target = target_duration(layout.segment_secs());
    let part_target = layout.part_secs();
    let mut out = String::with_capacity(2048);
    let ll = opts.low_latency;
    let _ = writeln!(out, "#EXTM3U");
    let _ = writeln!(out, "#EXT-X-VERSION:{}", if ll { 9 } else { 6 });
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS");
    if ll {
        let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={part_target:.3}");
        let _ = writeln!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3},CAN-SKIP-UNTIL={:.1}",
            3.0 * part_target,
            skip_until(layout.segment_secs())
        );
    }
    let listed: Vec<&Segment<P>> = seg.segments().filter(|s| ll || s.complete).collect();
    let first = listed.first().map_or(0, |s| s.msn);
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
    let _ = writeln!(out, "#EXT-X-MAP:URI=\"init.mp4\"");
    // segments whose end lies more than CAN-SKIP-UNTIL before the playlist's end
    let mut skipped = 0;
    if ll && opts.skip {
        let total: f64 = listed.iter().map(|s| s.duration_secs()).sum();
        let mut start = 0.0;
        for s in &listed {
            let end = start + s.duration_secs();
            if !s.complete || total - end < skip_until(layout.segment_secs()) {
                break;
            }
            skipped += 1;
            start = end;
        }
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
    }
    let with_parts = listed.len().saturating_sub(layout.part_segments + 1);
    for (i, s) in listed.iter().enumerate().skip(skipped) {
        if ll && i >= with_parts {
            for p in &s.parts {
                let _ = writeln!(
                    out,
                    "#EXT-X-PART:DURATION={:.3},URI=\"{}\",INDEPENDENT=YES",
                    p.samples as f64 / 48_000.0,
                    part_uri(s.msn, p.info.index)
                );
            }
        }
        if s.complete {
            let _ = writeln!(out, "#EXTINF:{:.3},", s.duration_secs());
            let _ = writeln!(out, "{}", segment_uri(s.msn));
        }
    }
    if ll && let Some((m, p)) = seg.next_part() {
        let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"", part_uri(m, p));
    }
    out
}
