//! [`OggDemuxer`]: bytes in (any chunking), packets out, with every discard counted.
//!
//! Input comes from the network (an Icecast source, an HTTP ingest), so it may start mid-page,
//! hold garbage, lose pages or be cut off. The demuxer never panics and never blocks: it finds
//! the next `OggS` capture pattern, checks the CRC, and reassembles packets across pages; what
//! it cannot use it counts in [`OggDemuxStats`]. Memory stays bounded: at most one page of
//! unparsed input, one partial packet per stream (capped), [`MAX_STREAMS`] streams.

use std::collections::{HashMap, VecDeque};

use super::crc::ogg_crc;
use super::page::PAGE_HEADER_LEN;
use super::{FLAG_BOS, FLAG_CONTINUED, FLAG_EOS, NO_GRANULE};

/// Logical streams tracked at once; pages of further streams are ignored (and counted).
pub const MAX_STREAMS: usize = 64;
/// Default cap on one packet's size (a cover-art comment header can be large; audio is not).
pub const DEFAULT_MAX_PACKET_BYTES: usize = 4 << 20;

/// One packet of one logical stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OggPacket {
    pub data: Vec<u8>,
    /// The page's granule position when this is the last packet ending on its page; `None`
    /// otherwise (Ogg records one granule position per page, not per packet).
    pub granule: Option<u64>,
    pub serial: u32,
    /// First packet of its logical stream (first on a page flagged beginning-of-stream).
    pub bos: bool,
    /// Last packet of its logical stream (last on a page flagged end-of-stream).
    pub eos: bool,
    /// Sequence number of the page the packet ends on.
    pub page_sequence: u32,
}

/// What the demuxer has seen and discarded so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OggDemuxStats {
    /// Valid pages parsed.
    pub pages: u64,
    /// Packets returned.
    pub packets: u64,
    /// Candidate pages rejected: bad CRC, unknown stream-structure version or flags.
    pub corrupt_pages: u64,
    /// Bytes skipped while looking for a page (garbage, the rest of corrupt pages).
    pub skipped_bytes: u64,
    /// Times a stream's page sequence number was not the one expected (pages lost).
    pub sequence_gaps: u64,
    /// Packets lost whole or in part: cut by a gap, continued from a page never seen, larger
    /// than the cap, or left unfinished at the end of input.
    pub dropped_packets: u64,
    /// Pages of streams beyond [`MAX_STREAMS`].
    pub ignored_pages: u64,
}

#[derive(Debug, Default)]
enum Partial {
    /// Between packets.
    #[default]
    Idle,
    /// Inside a packet whose start was seen.
    Building(Vec<u8>),
    /// Inside a packet that is being dropped (start lost, or too large).
    Skipping,
}

#[derive(Debug, Default)]
struct StreamState {
    next_sequence: Option<u32>,
    partial: Partial,
}

/// An incremental Ogg demuxer over any number of interleaved (multiplexed) or successive
/// (chained) logical streams.
#[derive(Debug)]
pub struct OggDemuxer {
    buf: Vec<u8>,
    /// Start of the unparsed bytes in `buf`.
    pos: usize,
    streams: HashMap<u32, StreamState>,
    ready: VecDeque<OggPacket>,
    stats: OggDemuxStats,
    max_packet_bytes: usize,
}

impl Default for OggDemuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl OggDemuxer {
    /// A demuxer with the default packet-size cap.
    pub fn new() -> Self {
        Self::with_max_packet_bytes(DEFAULT_MAX_PACKET_BYTES)
    }

    /// A demuxer that drops (and counts) packets longer than `max_packet_bytes`.
    pub fn with_max_packet_bytes(max_packet_bytes: usize) -> Self {
        OggDemuxer {
            buf: Vec::new(),
            pos: 0,
            streams: HashMap::new(),
            ready: VecDeque::new(),
            stats: OggDemuxStats::default(),
            max_packet_bytes,
        }
    }

    /// Adds input and parses every complete page in it.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
        while self.parse_page() {}
    }

    /// The next complete packet, in input order.
    pub fn pop(&mut self) -> Option<OggPacket> {
        self.ready.pop_front()
    }

    /// Declares the input finished: unparsed bytes count as skipped and unfinished packets as
    /// dropped (a truncated stream). The demuxer can be fed again afterwards.
    pub fn end_of_input(&mut self) {
        self.stats.skipped_bytes += (self.buf.len() - self.pos) as u64;
        self.buf.clear();
        self.pos = 0;
        for stream in self.streams.values_mut() {
            if !matches!(std::mem::take(&mut stream.partial), Partial::Idle) {
                self.stats.dropped_packets += 1;
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> OggDemuxStats {
        self.stats
    }

    /// Tries to take one page from the buffer; false when more input is needed.
    fn parse_page(&mut self) -> bool {
        let avail = &self.buf[self.pos..];
        let Some(at) = avail.windows(4).position(|w| w == b"OggS") else {
            // Keep a possible partial capture pattern ("Ogg") for the next feed.
            let garbage = avail.len() - avail.len().min(3);
            self.skip(garbage);
            return false;
        };
        self.skip(at);
        let avail = &self.buf[self.pos..];
        if avail.len() < PAGE_HEADER_LEN {
            return false;
        }
        // Reject a false capture pattern from its header alone when possible (version 0, flags
        // 0..=7): otherwise it is caught only by its CRC, after waiting for the up to 64 KiB
        // of body its lacing table claims — a stall of a live stream.
        if avail[4] != 0 || avail[5] > 7 {
            self.stats.corrupt_pages += 1;
            self.skip(1);
            return true;
        }
        let segments = usize::from(avail[26]);
        let header_len = PAGE_HEADER_LEN + segments;
        if avail.len() < header_len {
            return false;
        }
        let body_len: usize = avail[PAGE_HEADER_LEN..header_len].iter().map(|&l| usize::from(l)).sum();
        if avail.len() < header_len + body_len {
            return false;
        }
        let page = &avail[..header_len + body_len];
        let stored_crc = u32::from_le_bytes([page[22], page[23], page[24], page[25]]);
        let crc = ogg_crc(ogg_crc(ogg_crc(0, &page[..22]), &[0; 4]), &page[26..]);
        if crc != stored_crc {
            // Not a page after all, or a damaged one: resynchronise from the next byte.
            self.stats.corrupt_pages += 1;
            self.skip(1);
            return true;
        }
        let page_len = page.len();
        self.stats.pages += 1;
        take_packets(
            &self.buf[self.pos..self.pos + page_len],
            header_len,
            self.max_packet_bytes,
            &mut self.streams,
            &mut self.stats,
            &mut self.ready,
        );
        self.pos += page_len;
        true
    }

    fn skip(&mut self, n: usize) {
        self.pos += n;
        self.stats.skipped_bytes += n as u64;
    }
}

/// Splits a valid page into packets, continuing and leaving partial packets per stream.
fn take_packets(
    page: &[u8],
    header_len: usize,
    max_packet_bytes: usize,
    streams: &mut HashMap<u32, StreamState>,
    stats: &mut OggDemuxStats,
    ready: &mut VecDeque<OggPacket>,
) {
    let flags = page[5];
    // The slices have the exact lengths of the fields, so the conversions cannot fail.
    let granule = u64::from_le_bytes(page[6..14].try_into().unwrap_or([0xFF; 8]));
    let serial = u32::from_le_bytes(page[14..18].try_into().unwrap_or_default());
    let sequence = u32::from_le_bytes(page[18..22].try_into().unwrap_or_default());
    if !streams.contains_key(&serial) && streams.len() >= MAX_STREAMS {
        stats.ignored_pages += 1;
        return;
    }
    let stream = streams.entry(serial).or_default();

    if stream.next_sequence.is_some_and(|expected| expected != sequence) {
        stats.sequence_gaps += 1;
        // A packet in progress lost its middle: drop it (a continuation is skipped below).
        if let Partial::Building(_) = std::mem::take(&mut stream.partial) {
            stats.dropped_packets += 1;
        }
    }
    stream.next_sequence = Some(sequence.wrapping_add(1));
    if flags & FLAG_CONTINUED != 0 {
        if let Partial::Idle = stream.partial {
            // The start of this packet is on a page we never saw.
            stats.dropped_packets += 1;
            stream.partial = Partial::Skipping;
        }
    } else if !matches!(std::mem::take(&mut stream.partial), Partial::Idle) {
        // The previous page left a packet open but this one does not continue it.
        stats.dropped_packets += 1;
    }

    let lacing = &page[PAGE_HEADER_LEN..header_len];
    let mut offset = header_len;
    let mut finished: Vec<Vec<u8>> = Vec::new();
    for &len in lacing {
        let segment = &page[offset..offset + usize::from(len)];
        offset += usize::from(len);
        match &mut stream.partial {
            Partial::Skipping => {}
            Partial::Idle => stream.partial = Partial::Building(segment.to_vec()),
            Partial::Building(data) => data.extend_from_slice(segment),
        }
        if let Partial::Building(data) = &stream.partial
            && data.len() > max_packet_bytes
        {
            stats.dropped_packets += 1;
            stream.partial = Partial::Skipping;
        }
        // A lacing value below 255 ends the packet (taking the state also ends a skipped one).
        if len < 255
            && let Partial::Building(data) = std::mem::take(&mut stream.partial)
        {
            finished.push(data);
        }
    }
    if flags & FLAG_EOS != 0 {
        if !matches!(stream.partial, Partial::Idle) {
            stats.dropped_packets += 1;
        }
        // A later stream may reuse the serial (chaining): start it afresh.
        streams.remove(&serial);
    }

    let count = finished.len();
    let starts_fresh = flags & FLAG_CONTINUED == 0;
    for (i, data) in finished.into_iter().enumerate() {
        let last = i + 1 == count;
        stats.packets += 1;
        ready.push_back(OggPacket {
            data,
            granule: (last && granule != NO_GRANULE).then_some(granule),
            serial,
            bos: i == 0 && starts_fresh && flags & FLAG_BOS != 0,
            eos: last && flags & FLAG_EOS != 0,
            page_sequence: sequence,
        });
    }
}
