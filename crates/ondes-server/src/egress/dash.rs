//! The DASH manifest over the LL-HLS segments: one `Representation` per Opus rung, a
//! `SegmentTemplate` with `$Number$` pointing at the same fMP4 files as the HLS playlists,
//! and the lossless rung (`fLaC` in fMP4, timescale = the stream's rate) as a second
//! `AdaptationSet` with one `Representation` named `flac`.
//!
//! Segment `n` holds media time `n × D` (D = segment duration at 48 kHz), because segments
//! are cut on frame numbers; `availabilityStartTime` is the wall time of media time 0, taken
//! from the frames' capture timestamps. `availabilityTimeOffset` lets a low-latency client
//! ask for a segment one part after it starts: the server sends it as it is written.

use std::fmt::Write;

use ondes_core::hls::HlsLayout;

/// What the manifest describes.
pub struct DashManifest<'a> {
    pub layout: HlsLayout,
    /// Rungs in kbit/s.
    pub kbps: &'a [u32],
    pub channels: u16,
    pub sample_rate: u32,
    /// Wall-clock µs of media time 0.
    pub epoch_us: i64,
    pub now_us: i64,
    /// Target latency, ms.
    pub latency_ms: u64,
    /// The lossless rung's peak bandwidth, bits/s, when it is offered.
    pub flac_bandwidth: Option<u64>,
}

/// `2026-12-05T05:32:05.123Z` for µs since the Unix epoch.
/// The server's clock as ISO 8601 (`GET /api/time/iso`), for DASH players' clock sync.
pub const TIME_PATH: &str = "/api/time/iso";

pub fn iso8601(us: i64) -> String {
    let ms = us.rem_euclid(1_000_000) / 1000;
    let (y, m, d, h, mi, s, _) = crate::clock::civil(us.div_euclid(1_000_000));
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

impl DashManifest<'_> {
    pub fn render(&self) -> String {
        let l = &self.layout;
        let seg = l.segment_secs();
        let window = seg * l.window_segments as f64;
        let seg_samples = l.frames_per_segment() * u64::from(l.frame_samples);
        let mut o = String::with_capacity(2048);
        let _ = writeln!(o, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = writeln!(
            o,
            r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="{}" publishTime="{}" minimumUpdatePeriod="PT{seg:.3}S" minBufferTime="PT{:.3}S" timeShiftBufferDepth="PT{window:.3}S" maxSegmentDuration="PT{seg:.3}S">"#,
            iso8601(self.epoch_us),
            iso8601(self.now_us),
            l.part_secs() * 2.0,
        );
        let lat = self.latency_ms;
        let _ = writeln!(
            o,
            r#"  <ServiceDescription id="0"><Latency target="{lat}" min="{}" max="{}"/><PlaybackRate min="0.96" max="1.04"/></ServiceDescription>"#,
            lat / 2,
            lat * 3
        );
        let _ = writeln!(o, r#"  <Period id="0" start="PT0S">"#);
        let avail = seg - l.part_secs();
        if !self.kbps.is_empty() {
            let _ = writeln!(
                o,
                r#"    <AdaptationSet id="0" contentType="audio" mimeType="audio/mp4" codecs="opus" lang="und" segmentAlignment="true" startWithSAP="1">"#
            );
            template(&mut o, 48_000, seg_samples, avail);
            for k in self.kbps {
                self.representation(&mut o, &k.to_string(), bandwidth_bps(*k));
            }
            let _ = writeln!(o, "    </AdaptationSet>");
        }
        if let Some(bw) = self.flac_bandwidth {
            let _ = writeln!(
                o,
                r#"    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" codecs="flac" lang="und" segmentAlignment="true" startWithSAP="1">"#
            );
            // a segment holds the same frames at the stream's own rate
            let frame_samples = seg_samples / u64::from(l.frame_samples).max(1);
            let rate_samples =
                frame_samples * (u64::from(self.sample_rate) * u64::from(l.frame_samples) / 48_000);
            template(&mut o, self.sample_rate, rate_samples, avail);
            self.representation(&mut o, "flac", bw);
            let _ = writeln!(o, "    </AdaptationSet>");
        }
        let _ = writeln!(o, "  </Period>");
        // the player asks the server's clock when it syncs (the first scheme it can use); the
        // direct value is when this copy was made, which a player that syncs from an old copy
        // takes for "now" and then plays that much later than it thinks
        let _ = writeln!(
            o,
            r#"  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="{TIME_PATH}"/>"#
        );
        let _ = writeln!(
            o,
            r#"  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:direct:2014" value="{}"/>"#,
            iso8601(self.now_us)
        );
        let _ = writeln!(o, "</MPD>");
        o
    }
}

impl DashManifest<'_> {
    fn representation(&self, o: &mut String, id: &str, bandwidth: u64) {
        let _ = writeln!(
            o,
            r#"      <Representation id="{id}" bandwidth="{bandwidth}" audioSamplingRate="{}"><AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="{}"/></Representation>"#,
            self.sample_rate, self.channels
        );
    }
}

/// The `SegmentTemplate` of an adaptation set whose segments last `seg_samples` at `timescale`.
fn template(o: &mut String, timescale: u32, seg_samples: u64, availability_offset: f64) {
    let _ = writeln!(
        o,
        r#"      <SegmentTemplate timescale="{timescale}" duration="{seg_samples}" startNumber="0" presentationTimeOffset="0" availabilityTimeOffset="{availability_offset:.3}" availabilityTimeComplete="false" initialization="../hls/$RepresentationID$/init.mp4" media="../hls/$RepresentationID$/seg$Number$.m4s"/>"#
    );
}

/// A rung's peak bandwidth with the container's overhead, bits/s: Opus VBR peaks above its
/// target, and each packet costs 8 bytes of `trun` plus about 100 bytes of `moof` per part.
pub fn bandwidth_bps(kbps: u32) -> u64 {
    u64::from(kbps) * 1200 + 8_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_of_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_796_448_725_123_000), "2026-12-05T05:32:05.123Z");
    }

    #[test]
    fn manifest_names_rungs_and_template() {
        let m = DashManifest {
            layout: HlsLayout::new(20_000, 200_000, 1_000_000, 12).unwrap(),
            kbps: &[16, 64],
            channels: 2,
            sample_rate: 48_000,
            epoch_us: 0,
            now_us: 1_000_000,
            latency_ms: 1500,
            flac_bandwidth: None,
        }
        .render();
        assert!(m.contains(r#"type="dynamic""#));
        assert!(m.contains(r#"duration="48000""#) && m.contains("$Number$"));
        assert!(m.contains(r#"availabilityTimeOffset="0.800""#), "{m}");
        assert!(m.contains(r#"<Representation id="64" bandwidth="84800""#), "{m}");
        assert!(!m.contains("flac"));
        // the server's clock first, the manifest's own time as a fallback
        let http = m.find("utc:http-iso:2014").unwrap();
        assert!(http < m.find("utc:direct:2014").unwrap(), "{m}");
    }

    #[test]
    fn lossless_rung_is_its_own_adaptation_set_at_the_stream_rate() {
        let m = DashManifest {
            layout: HlsLayout::new(20_000, 200_000, 1_000_000, 12).unwrap(),
            kbps: &[],
            channels: 2,
            sample_rate: 44_100,
            epoch_us: 0,
            now_us: 1_000_000,
            latency_ms: 1500,
            flac_bandwidth: Some(1_500_000),
        }
        .render();
        assert!(!m.contains(r#"codecs="opus""#), "{m}");
        assert!(m.contains(r#"codecs="flac""#), "{m}");
        assert!(m.contains(r#"timescale="44100" duration="44100""#), "{m}");
        assert!(m.contains(r#"<Representation id="flac" bandwidth="1500000""#), "{m}");
    }
}
