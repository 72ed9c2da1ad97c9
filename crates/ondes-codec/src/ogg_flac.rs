//! Ogg FLAC (the FLAC-in-Ogg mapping, version 1.0): what `/{id}.flac` listeners get.
//!
//! The first packet, alone on the stream's first (BOS) page, is `0x7F "FLAC"`, the mapping
//! version (1.0), the number of header packets that follow (1), the native `fLaC` marker and
//! the STREAMINFO block. The second page holds the VORBIS_COMMENT block (flagged last). Then
//! every packet is one FLAC frame and a page's granule position is the number of samples
//! (per channel) up to the end of its last frame.
//!
//! Ogg rather than a bare FLAC stream because a bare one has no timing a player can trust
//! when it joins mid-stream, while Ogg gives every page a position, lets a listener that
//! was skipped ahead keep gapless page numbers, and is what Icecast serves FLAC in.

use crate::flac::{FlacFormat, vorbis_comment_block};
use crate::ogg::OggPageWriter;

/// Page sequence number of the first audio page (after the two header pages).
pub const FLAC_FIRST_AUDIO_PAGE: u32 = 2;

/// The two header pages of an Ogg FLAC stream `serial` (pages 0 and 1).
pub fn ogg_flac_headers(serial: u32, format: &FlacFormat, vendor: &str, comments: &[String]) -> Vec<u8> {
    let mut first = Vec::with_capacity(51);
    first.push(0x7F);
    first.extend_from_slice(b"FLAC");
    first.extend_from_slice(&[1, 0]); // mapping version 1.0
    first.extend_from_slice(&1u16.to_be_bytes()); // one header packet follows
    first.extend_from_slice(b"fLaC");
    first.extend_from_slice(&format.streaminfo_block());
    let comment = vorbis_comment_block(vendor, comments, true);
    let mut out = Vec::new();
    let mut w = OggPageWriter::new(serial);
    w.write_packets(&[(&first, 0)], true, false, &mut out);
    w.write_packets(&[(&comment, 0)], false, false, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OggDemuxer;

    #[test]
    fn headers_are_two_pages_with_the_mapping_packets() {
        let f = FlacFormat::new(48_000, 2, 960).unwrap();
        let b = ogg_flac_headers(7, &f, "ondes", &["TITLE=t".into()]);
        let mut d = OggDemuxer::new();
        d.feed(&b);
        let p1 = d.pop().unwrap();
        assert!(p1.bos);
        assert_eq!(p1.data.len(), 51);
        assert_eq!(&p1.data[..9], b"\x7FFLAC\x01\x00\x00\x01");
        assert_eq!(&p1.data[9..13], b"fLaC");
        assert_eq!(&p1.data[13..17], &[0, 0, 0, 34]);
        let p2 = d.pop().unwrap();
        assert_eq!(p2.data[0], 0x84);
        assert!(d.pop().is_none());
        assert_eq!(crate::ogg::page_sequence(&b), Some(0));
    }
}
