//! [`PageRenumberer`]: gives a listener who joins a live Ogg stream a gap-free page sequence.
//!
//! A live Ogg stream is made once and its pages are shared by every listener. A listener that
//! joins late needs the header pages (sequence 0 and 1) followed by the current audio pages
//! (sequence N, N+1 ...). Icecast sends exactly that, gap included, but libogg-based players and
//! tools (opusfile, opusinfo, VLC) report the gap as lost data, and numbering the headers N-2,
//! N-1 instead is worse (libogg then sees a hole before the first header and rejects the
//! stream). The clean answer is to renumber the shared pages per listener — which means a new
//! CRC for every page, and recomputing it over each page for each listener would cost O(page)
//! per listener per page.
//!
//! The Ogg CRC is linear (no initial value, no final XOR), so changing the four sequence bytes
//! changes the CRC by the CRC of a message that is zero except for those four bytes' XOR
//! difference. That is the CRC of 4 bytes followed by `len - 22` zero bytes, computed in
//! O(log len) by applying precomputed "append 2^k zero bytes" operators, as zlib's
//! `crc32_combine` does. Renumbering a page is then a copy plus ~100 word operations.

use std::sync::LazyLock;

use super::crc::ogg_crc;
use super::page::PAGE_HEADER_LEN;

/// A linear map on CRC states, as the images of the 32 basis bits.
type Operator = [u32; 32];

fn apply(op: &Operator, mut v: u32) -> u32 {
    let mut out = 0;
    let mut bit = 0;
    while v != 0 {
        if v & 1 != 0 {
            out ^= op[bit];
        }
        v >>= 1;
        bit += 1;
    }
    out
}

/// `ZERO_BYTES[k]` appends 2^k zero bytes to a CRC state; k up to 16 covers any page (< 64 KiB).
static ZERO_BYTES: LazyLock<[Operator; 17]> = LazyLock::new(|| {
    let mut ops = [[0u32; 32]; 17];
    for (bit, image) in ops[0].iter_mut().enumerate() {
        // One zero byte through the byte-wise CRC update.
        *image = ogg_crc(1u32 << bit, &[0]);
    }
    for k in 1..ops.len() {
        let prev = ops[k - 1];
        for bit in 0..32 {
            ops[k][bit] = apply(&prev, prev[bit]);
        }
    }
    ops
});

/// The CRC state `crc` followed by `n` zero bytes.
fn append_zeros(mut crc: u32, mut n: usize) -> u32 {
    let mut k = 0;
    while n != 0 {
        if n & 1 != 0 {
            crc = apply(&ZERO_BYTES[k], crc);
        }
        n >>= 1;
        k += 1;
    }
    crc
}

/// Sets the sequence number of the complete page `page` to `sequence` and updates its CRC
/// without rereading the page body. Returns false (and leaves the page alone) if `page` is
/// too short to be a page.
pub fn set_page_sequence(page: &mut [u8], sequence: u32) -> bool {
    // ZERO_BYTES reaches 2^17 - 1 bytes; a page is at most 65307.
    if page.len() < PAGE_HEADER_LEN || page.len() >= 1 << 17 {
        return false;
    }
    let old = super::page_sequence(page).unwrap_or(0);
    let diff = (old ^ sequence).to_le_bytes();
    let crc = u32::from_le_bytes([page[22], page[23], page[24], page[25]]);
    let delta = append_zeros(ogg_crc(0, &diff), page.len() - 22);
    page[18..22].copy_from_slice(&sequence.to_le_bytes());
    page[22..26].copy_from_slice(&(crc ^ delta).to_le_bytes());
    true
}

/// Renumbers the pages of one logical stream for one listener, continuing from where its
/// header pages left off.
#[derive(Debug, Clone)]
pub struct PageRenumberer {
    next: u32,
}

impl PageRenumberer {
    /// The first page passed to [`renumber`](Self::renumber) will get `first_sequence` (2 after
    /// the two Ogg/Opus header pages).
    pub fn new(first_sequence: u32) -> Self {
        PageRenumberer { next: first_sequence }
    }

    /// Renumbers every complete page in `pages` (one or more pages, back to back, as the muxer
    /// returns them). Stops at the first thing that is not a whole page; returns the number
    /// of pages renumbered.
    pub fn renumber(&mut self, pages: &mut [u8]) -> usize {
        let mut at = 0;
        let mut count = 0;
        while let Some(len) = page_len(&pages[at..]) {
            set_page_sequence(&mut pages[at..at + len], self.next);
            self.next = self.next.wrapping_add(1);
            at += len;
            count += 1;
        }
        count
    }
}

/// Length of the whole page at the start of `bytes`, if it is all there.
fn page_len(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < PAGE_HEADER_LEN || &bytes[..4] != b"OggS" {
        return None;
    }
    let header = PAGE_HEADER_LEN + usize::from(bytes[26]);
    let body: usize = bytes.get(PAGE_HEADER_LEN..header)?.iter().map(|&l| usize::from(l)).sum();
    (bytes.len() >= header + body).then_some(header + body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogg::OggPageWriter;

    fn full_crc(page: &[u8]) -> u32 {
        let mut copy = page.to_vec();
        copy[22..26].fill(0);
        ogg_crc(0, &copy)
    }

    #[test]
    fn renumbered_pages_carry_the_crc_a_full_recomputation_gives() {
        for size in [0usize, 1, 200, 254, 255, 4000, 60_000] {
            let mut w = OggPageWriter::new(0xABCD);
            w.set_sequence(1234);
            let mut page = Vec::new();
            let data: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
            w.write_packets(&[(&data, 99)], false, false, &mut page);
            for seq in [0, 2, 1235, u32::MAX] {
                assert!(set_page_sequence(&mut page, seq));
                assert_eq!(u32::from_le_bytes(page[18..22].try_into().unwrap()), seq);
                let stored = u32::from_le_bytes(page[22..26].try_into().unwrap());
                assert_eq!(stored, full_crc(&page), "size {size}, seq {seq}");
            }
        }
    }

    #[test]
    fn a_renumberer_walks_back_to_back_pages() {
        let mut w = OggPageWriter::new(1);
        w.set_sequence(500);
        let mut pages = Vec::new();
        w.write_packets(&[(&[1; 10], 1)], false, false, &mut pages);
        w.write_packets(&[(&[2; 300 * 255], 2)], false, false, &mut pages); // two pages
        let mut r = PageRenumberer::new(2);
        assert_eq!(r.renumber(&mut pages), 3);
        assert_eq!(r.renumber(&mut pages[..5]), 0, "not a whole page");
    }
}
