//! Icecast-style HTTP listener: `GET /{mount}`, an Ogg stream read until the run stops.
//!
//! The same listener measures ondes and Icecast. It does not decode audio: a lean page
//! scanner ([`OggScanner`]) reads each page's header for its granule position (48 kHz samples
//! for Opus) and skips the body, so thousands of listeners cost little. From the pages:
//!
//! - audio continuity: a page is expected to start where the previous one ended (granule);
//!   a jump forward is a gap (the server skipped audio for this listener);
//! - stalls: as for SSE, silence beyond the audio the last page carried plus the threshold;
//! - time to first byte: from sending the request to the first body byte;
//! - how far behind live a listener starts: the audio it holds beyond the time it has been
//!   listening, `max(audio received − time since the first audio page)` over its first
//!   [`START_WINDOW`]. A server that bursts B seconds of old audio on connect shows ≈ B plus
//!   one page (a page's first sample is a page older than its arrival).
//!
//! Frames are counted in 20 ms units of audio (960 granule samples), whatever the codec's
//! frame size, so the report's frames/gaps read the same for every server.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{BytesSink, Conn, Dialer, ReadEnd, RunShared, get_request, open, read_loop};
use crate::bench::http1::{BodyDecoder, HttpUrl};
use crate::bench::sse_scan::AudioMeta;
use crate::bench::stats::{ListenerStats, Window};

/// Granule samples (48 kHz) per counted frame: 20 ms.
const UNIT: u64 = 960;
/// Time after the first audio page over which the start lag is measured.
pub(crate) const START_WINDOW: Duration = Duration::from_secs(2);

/// Where and what to request; built once per run and shared by all listeners.
#[derive(Debug)]
pub(crate) struct HttpTarget {
    pub dialer: Dialer,
    request: Box<[u8]>,
}

impl HttpTarget {
    pub fn new(dialer: Dialer, url: &HttpUrl, path_and_query: &str, token: Option<&str>) -> Self {
        Self {
            dialer,
            request: get_request(url, path_and_query, "Accept: */*\r\nIcy-MetaData: 0\r\n", token),
        }
    }
}

/// A response whose head has been read and accepted.
#[derive(Debug)]
pub(crate) struct HttpConnection {
    stream: Conn,
    decoder: HttpDecoder,
    pending: Vec<u8>,
}

/// What an Ogg listener makes of the body.
#[derive(Debug)]
struct HttpDecoder {
    body: BodyDecoder,
    scanner: OggScanner,
    timing: StartTiming,
}

/// Connects, sends the request and reads the response head.
pub(crate) async fn connect(target: &HttpTarget) -> Result<HttpConnection, String> {
    let sent_at = Instant::now();
    let (stream, parsed, pending) =
        open(&target.dialer, &target.request, |ct| ct.contains("ogg") || ct.contains("opus"), "not_ogg")
            .await?;
    Ok(HttpConnection {
        stream,
        decoder: HttpDecoder {
            body: BodyDecoder::for_head(&parsed),
            scanner: OggScanner::default(),
            timing: StartTiming::new(sent_at),
        },
        pending,
    })
}

impl HttpConnection {
    /// Reads until the run is stopped or the connection ends.
    pub async fn run(
        &mut self,
        shared: &RunShared,
        stats: &mut ListenerStats,
        stop: &mut watch::Receiver<bool>,
    ) -> ReadEnd {
        shared.frame_duration_us.store(20_000, Ordering::Relaxed);
        let pending = std::mem::take(&mut self.pending);
        read_loop(&mut self.stream, &mut self.decoder, pending, shared, stats, stop).await
    }
}

impl BytesSink for HttpDecoder {
    fn on_bytes(
        &mut self,
        bytes: &[u8],
        shared: &RunShared,
        stats: &mut ListenerStats,
    ) -> Result<(), ReadEnd> {
        let counting = stats.follow_window(shared.window());
        if counting {
            stats.counters.bytes += bytes.len() as u64;
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let Self { body, scanner, timing } = self;
        timing.on_body_bytes(now, shared);
        let mut bad = false;
        body.decode(bytes, &mut |chunk| {
            scanner.feed(chunk, &mut |page| {
                if page.bad {
                    bad = true;
                }
                on_page(&page, now, stats, shared, timing, counting);
            })
        })
        .map_err(|_| ReadEnd::Failed("bad_chunked_encoding".into()))?;
        if bad {
            return Err(ReadEnd::Failed("not_ogg_pages".into()));
        }
        if body.is_done() { Err(ReadEnd::Closed) } else { Ok(()) }
    }
}

fn on_page(
    page: &PageInfo,
    now: Instant,
    stats: &mut ListenerStats,
    shared: &RunShared,
    timing: &mut StartTiming,
    counting: bool,
) {
    if page.header || page.granule == u64::MAX || stats.window == Window::After {
        return;
    }
    // where this page's audio starts: the previous page's end, or for the first page its
    // end minus its packets' duration (from the first packet's TOC byte)
    let start = match timing.last_granule {
        Some(g) if g <= page.granule => g,
        _ => page.granule.saturating_sub(page.first_page_samples()),
    };
    timing.last_granule = Some(page.granule);
    let seconds = (page.granule - start) as f64 / 48_000.0;
    timing.on_audio(now, seconds, shared);
    let first_unit = (start + UNIT / 2) / UNIT;
    let end_unit = (page.granule + UNIT / 2) / UNIT;
    let units = u32::try_from(end_unit.saturating_sub(first_unit)).unwrap_or(u32::MAX);
    if units == 0 {
        return;
    }
    let meta =
        AudioMeta { frame_number: first_unit, timestamp_ms: 0.0, frames: units, duration_ms: Some(20.0) };
    stats.on_audio(&meta, now);
    if counting {
        shared.frames.fetch_add(u64::from(units), Ordering::Relaxed);
    }
}

/// Time to first byte and start lag of one listener.
#[derive(Debug)]
struct StartTiming {
    sent_at: Instant,
    first_byte: bool,
    first_audio_at: Option<Instant>,
    audio_secs: f64,
    max_ahead_secs: f64,
    reported: bool,
    last_granule: Option<u64>,
}

impl StartTiming {
    fn new(sent_at: Instant) -> Self {
        StartTiming {
            sent_at,
            first_byte: false,
            first_audio_at: None,
            audio_secs: 0.0,
            max_ahead_secs: 0.0,
            reported: false,
            last_granule: None,
        }
    }

    fn on_body_bytes(&mut self, now: Instant, shared: &RunShared) {
        if !self.first_byte {
            self.first_byte = true;
            shared.ttfb.record_ms(now.duration_since(self.sent_at).as_secs_f64() * 1000.0);
        }
    }

    fn on_audio(&mut self, now: Instant, seconds: f64, shared: &RunShared) {
        if self.reported {
            return;
        }
        let first = *self.first_audio_at.get_or_insert(now);
        let elapsed = now.duration_since(first);
        if elapsed > START_WINDOW {
            self.reported = true;
            shared.start_lag.record_ms(self.max_ahead_secs * 1000.0);
            return;
        }
        self.audio_secs += seconds;
        self.max_ahead_secs = self.max_ahead_secs.max(self.audio_secs - elapsed.as_secs_f64());
    }
}

/// What the scanner reports for each complete page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PageInfo {
    pub granule: u64,
    /// An `OpusHead`/`OpusTags` (or other codec header) page.
    pub header: bool,
    /// Packets ending on the page.
    pub packets: u32,
    /// The first body byte (an Opus packet's TOC byte), if the page has a body.
    pub first_byte: Option<u8>,
    /// The bytes do not look like Ogg pages.
    pub bad: bool,
}

impl PageInfo {
    /// Duration of the page's packets in 48 kHz samples, assuming all are like the first
    /// (used only for a listener's first audio page).
    fn first_page_samples(&self) -> u64 {
        let Some(toc) = self.first_byte else { return 0 };
        // RFC 6716 §3.1: frame size from the configuration number, frames from the code
        let config = toc >> 3;
        let frame = match config {
            0..=11 => [480u64, 960, 1920, 2880][usize::from(config % 4)],
            12..=15 => [480, 960][usize::from(config % 2)],
            _ => [120, 240, 480, 960][usize::from(config % 4)],
        };
        let frames = match toc & 3 {
            0 => 1,
            1 | 2 => 2,
            _ => 1, // code 3 carries its count in the next byte; rare in streams
        };
        frame * frames * u64::from(self.packets)
    }
}

/// Incremental Ogg page scanner: page headers parsed, bodies skipped.
#[derive(Debug, Default)]
pub(crate) struct OggScanner {
    header: Vec<u8>,
    /// Body bytes still to skip of the current page.
    skip: usize,
    current: Option<PageInfo>,
    /// The current page's first body bytes (up to 8).
    sniff: Vec<u8>,
}

impl OggScanner {
    pub fn feed(&mut self, mut bytes: &[u8], on_page: &mut impl FnMut(PageInfo)) {
        while !bytes.is_empty() {
            if let Some(page) = &mut self.current {
                if self.sniff.len() < 8 {
                    let take = (8 - self.sniff.len()).min(self.skip).min(bytes.len());
                    self.sniff.extend_from_slice(&bytes[..take]);
                }
                let take = self.skip.min(bytes.len());
                self.skip -= take;
                bytes = &bytes[take..];
                if self.skip == 0 {
                    page.first_byte = self.sniff.first().copied();
                    // codec headers (OpusHead, OpusTags) sit at granule 0; audio pages never do
                    page.header = page.granule == 0;
                    let done = *page;
                    self.current = None;
                    self.sniff.clear();
                    on_page(done);
                }
                continue;
            }
            // header: 27 bytes, then the lacing table
            let need = if self.header.len() < 27 { 27 } else { 27 + usize::from(self.header[26]) };
            let take = (need - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() < need {
                continue;
            }
            if !self.header.starts_with(b"OggS") {
                on_page(PageInfo {
                    granule: u64::MAX,
                    header: false,
                    packets: 0,
                    first_byte: None,
                    bad: true,
                });
                self.header.clear();
                return;
            }
            if self.header.len() == 27 && self.header[26] > 0 {
                continue; // read the lacing table
            }
            let lacing = &self.header[27..];
            let body: usize = lacing.iter().map(|&l| usize::from(l)).sum();
            let packets = lacing.iter().filter(|&&l| l < 255).count() as u32;
            let granule = u64::from_le_bytes(self.header[6..14].try_into().unwrap_or([0xFF; 8]));
            self.header.clear();
            self.skip = body;
            let info = PageInfo { granule, header: false, packets, first_byte: None, bad: false };
            if body == 0 {
                on_page(info);
            } else {
                self.current = Some(info);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_codec::OggOpusMuxer;

    fn pages() -> Vec<u8> {
        let mut m = OggOpusMuxer::new(7, 2, 48_000, 312).unwrap().with_packets_per_page(5);
        let mut out = m.headers();
        // a 20 ms CELT fullband packet: TOC config 31 (20 ms), code 0
        let packet = [31u8 << 3, 1, 2, 3];
        for _ in 0..10 {
            out.extend(m.push(&packet, 960));
        }
        out
    }

    #[test]
    fn scans_headers_and_audio_pages_in_any_chunking() {
        let bytes = pages();
        for chunk in [1, 3, 27, 100, bytes.len()] {
            let mut s = OggScanner::default();
            let mut got = Vec::new();
            for c in bytes.chunks(chunk) {
                s.feed(c, &mut |p| got.push(p));
            }
            assert_eq!(got.len(), 4, "chunk {chunk}: {got:?}");
            assert!(got[0].header && got[1].header);
            assert_eq!((got[2].granule, got[2].packets, got[2].header), (4800, 5, false));
            assert_eq!(got[3].granule, 9600);
            assert_eq!(got[2].first_page_samples(), 4800);
            assert!(got.iter().all(|p| !p.bad));
        }
        let mut s = OggScanner::default();
        let mut bad = false;
        s.feed(&[b'x'; 64], &mut |p| bad |= p.bad);
        assert!(bad);
    }
}
