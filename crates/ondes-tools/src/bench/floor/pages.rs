//! The floor's stream: real Ogg/Opus pages of a tone, made once per page for every listener.
//!
//! The Opus packets are encoded once, at start, by the project's own [`OpusEncoder`]: one
//! second of a stereo tone (440 Hz left, 660 Hz right, whole cycles, so the second loops
//! without a click), 64 kbit/s, 20 ms frames. Each page then takes the next `page_ms / 20`
//! packets of that loop through one [`OggOpusMuxer`], which numbers the pages consecutively
//! and gives them the granule positions of a continuous stream. Encoding ahead keeps the
//! codec's cost (a fixed ~1–2 % of a core, whatever the listener count) out of the floor:
//! what the floor measures is the fan-out, the kernel's cost of one write per listener per
//! page.

use std::f32::consts::TAU;
use std::sync::Arc;

use ondes_codec::ogg_opus::FIRST_AUDIO_PAGE;
use ondes_codec::{OggOpusMuxer, OpusConfig, OpusEncoder};

/// Duration of one Opus frame (and the step of `page_ms`), in ms.
pub const FRAME_MS: u32 = 20;
/// Longest page accepted: 100 packets of ~160 bytes keep well within one page's 255 lacing
/// values.
pub const MAX_PAGE_MS: u32 = 2_000;
/// Ogg serial number of the stream (`"flor"`).
const SERIAL: u32 = 0x666c_6f72;
/// The tone loops after this many frames (1 s).
const LOOP_FRAMES: usize = 50;

/// One page, shared by every writer thread and every listener.
#[derive(Debug, Clone)]
pub struct Page {
    /// The page's sequence number.
    pub sequence: u32,
    /// The whole page (header, lacing, body).
    pub bytes: Arc<[u8]>,
}

/// Makes the pages of the stream, one per call.
#[derive(Debug)]
pub struct PageSource {
    muxer: OggOpusMuxer,
    /// One second of encoded tone, played in a loop.
    packets: Vec<Vec<u8>>,
    next_packet: usize,
    packets_per_page: usize,
}

impl PageSource {
    /// A source of pages holding `page_ms` of audio each (a multiple of 20 ms, at most
    /// [`MAX_PAGE_MS`]).
    pub fn new(page_ms: u32) -> Result<Self, String> {
        if page_ms == 0 || !page_ms.is_multiple_of(FRAME_MS) || page_ms > MAX_PAGE_MS {
            return Err(format!(
                "page duration {page_ms} ms: expected a multiple of {FRAME_MS} ms up to {MAX_PAGE_MS} ms"
            ));
        }
        let cfg = OpusConfig {
            sample_rate: 48_000,
            channels: 2,
            frame_us: FRAME_MS * 1000,
            bitrate_bps: 64_000,
            ..OpusConfig::default()
        };
        let mut encoder = OpusEncoder::new(cfg).map_err(|e| e.to_string())?;
        let frame = encoder.frame_samples();
        // Encode two loops and keep the second: its first frames were coded with the end of
        // the first loop as history, as they are heard when the loop repeats.
        let mut packets = Vec::with_capacity(2 * LOOP_FRAMES);
        let mut pcm = Vec::with_capacity(frame * 2);
        for f in 0..2 * LOOP_FRAMES {
            pcm.clear();
            for i in 0..frame {
                let t = ((f % LOOP_FRAMES) * frame + i) as f32 / 48_000.0;
                pcm.push(0.25 * (TAU * 440.0 * t).sin());
                pcm.push(0.25 * (TAU * 660.0 * t).sin());
            }
            let mut packet = Vec::new();
            encoder.encode(&pcm, &mut packet).map_err(|e| e.to_string())?;
            packets.push(packet);
        }
        packets.drain(..LOOP_FRAMES);
        let per_page = (page_ms / FRAME_MS) as usize;
        let muxer = OggOpusMuxer::new(SERIAL, 2, 48_000, encoder.pre_skip_48k())
            .map_err(|e| e.to_string())?
            .with_packets_per_page(per_page);
        Ok(PageSource { muxer, packets, next_packet: 0, packets_per_page: per_page })
    }

    /// The `OpusHead` and `OpusTags` pages, numbered 0 and 1 (see [`headers_before`]).
    pub fn headers(&self) -> Vec<u8> {
        self.muxer.headers()
    }

    /// The next page of the stream: `page_ms` of audio, numbered after the previous one.
    pub fn next_page(&mut self) -> Page {
        let sequence = self.muxer.next_page_sequence();
        let mut bytes = Vec::new();
        for _ in 0..self.packets_per_page {
            let packet = &self.packets[self.next_packet];
            self.next_packet = (self.next_packet + 1) % self.packets.len();
            self.muxer.push_into(packet, FRAME_MS * 48, &mut bytes);
        }
        Page { sequence, bytes: bytes.into() }
    }
}

/// The header pages renumbered to end right before page `first_audio`, so that a listener who
/// joins mid-stream sees no gap in page numbers (Ogg lets a stream start at any number; only
/// a jump between pages reads as lost data).
pub fn headers_before(headers: &[u8], first_audio: u32) -> Vec<u8> {
    let mut copy = headers.to_vec();
    ondes_codec::ogg::PageRenumberer::new(first_audio.wrapping_sub(FIRST_AUDIO_PAGE)).renumber(&mut copy);
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_codec::ogg::{page_granule, page_sequence};

    #[test]
    fn pages_are_numbered_and_timed_like_a_continuous_stream() {
        let mut source = PageSource::new(100).unwrap();
        let pages: Vec<Page> = (0..25).map(|_| source.next_page()).collect();
        for (i, page) in pages.iter().enumerate() {
            assert_eq!(page.sequence, FIRST_AUDIO_PAGE + i as u32);
            assert_eq!(page_sequence(&page.bytes), Some(page.sequence));
            // 100 ms = 4800 samples at 48 kHz per page
            assert_eq!(page_granule(&page.bytes), Some(4800 * (i as u64 + 1)));
        }
        // ~64 kbit/s: 800 bytes of packets per 100 ms, give or take VBR and page overhead
        let total: usize = pages.iter().map(|p| p.bytes.len()).sum();
        assert!((15_000..=30_000).contains(&total), "{total} bytes in 2.5 s");
    }

    #[test]
    fn headers_renumbered_to_end_before_the_first_audio_page() {
        let source = PageSource::new(20).unwrap();
        let headers = headers_before(&source.headers(), 42);
        assert_eq!(page_sequence(&headers), Some(40));
        let second = 27
            + usize::from(headers[26])
            + headers[27..27 + usize::from(headers[26])].iter().map(|&l| usize::from(l)).sum::<usize>();
        assert_eq!(page_sequence(&headers[second..]), Some(41));
    }

    #[test]
    fn rejects_page_durations_that_are_not_whole_frames() {
        for bad in [0, 10, 30, 2_020] {
            assert!(PageSource::new(bad).is_err(), "{bad}");
        }
        for good in [20, 100, 1000] {
            assert!(PageSource::new(good).is_ok(), "{good}");
        }
    }
}
