//! [`OggPageWriter`]: packets in, complete Ogg pages (header, lacing, CRC) out as bytes.

use super::crc::ogg_crc;
use super::{FLAG_BOS, FLAG_CONTINUED, FLAG_EOS, NO_GRANULE};

/// Bytes of a page header before its lacing table.
pub const PAGE_HEADER_LEN: usize = 27;
/// Most lacing values (segments) one page may hold.
const MAX_SEGMENTS: usize = 255;

/// Writes the pages of one logical stream, numbering them.
#[derive(Debug, Clone)]
pub struct OggPageWriter {
    serial: u32,
    sequence: u32,
}

impl OggPageWriter {
    /// A writer for stream `serial` whose next page gets sequence number 0.
    pub fn new(serial: u32) -> Self {
        OggPageWriter { serial, sequence: 0 }
    }

    /// The stream's serial number.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// Sequence number the next page will carry.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// Sets the sequence number of the next page.
    pub fn set_sequence(&mut self, sequence: u32) {
        self.sequence = sequence;
    }

    /// Appends to `out` the pages holding `packets`, each given with the granule position
    /// at its end. All packets go on as few pages as the 255-segment limit allows, so pass
    /// one packet for one page. A page's granule position is that of the last packet ending on
    /// it, or [`NO_GRANULE`] when none does; `bos` flags the first page, `eos` the last.
    /// Returns the number of pages written (0 when `packets` is empty).
    pub fn write_packets(
        &mut self,
        packets: &[(&[u8], u64)],
        bos: bool,
        eos: bool,
        out: &mut Vec<u8>,
    ) -> usize {
        let mut lacing: Vec<u8> = Vec::new();
        // For each lacing value: Some(granule) when a packet ends with it.
        let mut ends: Vec<Option<u64>> = Vec::new();
        for (data, granule) in packets {
            let full = data.len() / 255;
            lacing.extend(std::iter::repeat_n(255u8, full));
            ends.extend(std::iter::repeat_n(None, full));
            // The remainder is < 255; a multiple of 255 ends with a 0-length segment.
            lacing.push((data.len() % 255) as u8);
            ends.push(Some(*granule));
        }
        let body: Vec<u8> = packets.iter().flat_map(|(d, _)| d.iter().copied()).collect();
        let mut pages = 0;
        let (mut seg, mut offset, mut continued) = (0, 0, false);
        while seg < lacing.len() {
            let end = (seg + MAX_SEGMENTS).min(lacing.len());
            let granule = ends[seg..end].iter().rev().find_map(|g| *g).unwrap_or(NO_GRANULE);
            let len: usize = lacing[seg..end].iter().map(|&l| usize::from(l)).sum();
            let mut flags = if continued { FLAG_CONTINUED } else { 0 };
            if bos && pages == 0 {
                flags |= FLAG_BOS;
            }
            if eos && end == lacing.len() {
                flags |= FLAG_EOS;
            }
            self.write_page(flags, granule, &lacing[seg..end], &body[offset..offset + len], out);
            continued = lacing[end - 1] == 255;
            offset += len;
            seg = end;
            pages += 1;
        }
        pages
    }

    /// Appends a page with no packet, flagged `EOS`: the end of a stream whose last packet has
    /// already been sent. Its granule position is [`NO_GRANULE`], as for any page on which no
    /// packet ends (libogg-based tools reject a position there); the previous page's stands.
    pub fn write_empty_eos(&mut self, out: &mut Vec<u8>) {
        self.write_page(FLAG_EOS, NO_GRANULE, &[], &[], out);
    }

    fn write_page(&mut self, flags: u8, granule: u64, lacing: &[u8], body: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(b"OggS");
        out.push(0); // stream structure version
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&self.serial.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // CRC, computed over the page with this field zero
        // write_packets never passes more than MAX_SEGMENTS lacing values.
        out.push(lacing.len() as u8);
        out.extend_from_slice(lacing);
        out.extend_from_slice(body);
        let crc = ogg_crc(0, &out[start..]);
        out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
        self.sequence = self.sequence.wrapping_add(1);
    }
}

/// The granule position field of a page starting at `page[0]`, if the header is there.
pub fn page_granule(page: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(page.get(6..14)?.try_into().ok()?))
}

/// The page sequence number of a page (`None` if `page` is too short to hold one).
pub fn page_sequence(page: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(page.get(18..22)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_of_exactly_255_bytes_ends_with_a_zero_lacing_value() {
        let mut w = OggPageWriter::new(7);
        let mut out = Vec::new();
        assert_eq!(w.write_packets(&[(&[1u8; 255], 960)], true, false, &mut out), 1);
        assert_eq!(out[26], 2, "two segments");
        assert_eq!(&out[27..29], &[255, 0]);
        assert_eq!(out[5], FLAG_BOS);
        assert_eq!(page_granule(&out), Some(960));
    }

    #[test]
    fn a_large_packet_spans_pages_with_continuation_flags() {
        let mut w = OggPageWriter::new(7);
        let mut out = Vec::new();
        let big = vec![3u8; 255 * 300];
        assert_eq!(w.write_packets(&[(&big, 42)], false, true, &mut out), 2);
        let second = PAGE_HEADER_LEN + 255 + 255 * 255;
        assert_eq!(page_granule(&out), Some(NO_GRANULE), "no packet ends on the first page");
        assert_eq!(out[5], 0);
        assert_eq!(out[second + 5], FLAG_CONTINUED | FLAG_EOS);
        assert_eq!(page_granule(&out[second..]), Some(42));
        assert_eq!(w.sequence(), 2);
    }
}
