//! Fuzz harnesses of this crate's container parsers (what HTTP ingest and Icecast source
//! clients send us), shared by the fuzz targets in `fuzz/` and by the test that replays
//! their reproducers; the Opus decoders' harness is [`crate::opus::fuzz`].
//!
//! Inputs are fed in chunks whose size comes from the first byte, as a network delivers
//! them, and the parsers' promises are checked: no panic, bounded packets, and output that
//! matches what was reported.

use crate::ogg::OggDemuxer;
use crate::ogg_opus::{OggOpusReader, OpusHead, OpusTags};
use crate::wav_stream::WavStream;

/// Largest packet the demuxer is allowed to hold in these runs.
const MAX_PACKET: usize = 64 * 1024;

fn chunks(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&step, body)) => (usize::from(step).max(1) * 7, body),
        None => (1, &[]),
    }
}

/// The Ogg demuxer (pages, lacing, several logical streams).
pub fn ogg_demux(data: &[u8]) {
    let (step, body) = chunks(data);
    let mut d = OggDemuxer::with_max_packet_bytes(MAX_PACKET);
    for chunk in body.chunks(step) {
        d.feed(chunk);
        while let Some(p) = d.pop() {
            assert!(p.data.len() <= MAX_PACKET, "a packet above the limit came out");
        }
    }
    d.end_of_input();
    while d.pop().is_some() {}
}

/// The Ogg/Opus reader (Icecast sources, Ogg ingest), and the header parsers on the raw
/// input.
pub fn ogg_opus(data: &[u8]) {
    let _ = OpusHead::parse(data);
    let _ = OpusTags::parse(data);
    let (step, body) = chunks(data);
    let mut r = OggOpusReader::new();
    for chunk in body.chunks(step) {
        r.feed(chunk);
        while let Ok(Some(_)) = r.pop() {}
    }
    r.end_of_input();
    while let Ok(Some(_)) = r.pop() {}
}

/// The streaming WAV parser (HTTP ingest of `audio/wav`): never more samples than the
/// bytes could hold.
pub fn wav(data: &[u8]) {
    let (step, body) = chunks(data);
    let mut w = WavStream::new();
    let mut out = Vec::new();
    let mut fed = 0;
    for chunk in body.chunks(step) {
        fed += chunk.len();
        if w.feed(chunk, &mut out).is_err() {
            return;
        }
        assert!(out.len() <= fed, "more samples than bytes fed");
    }
}
