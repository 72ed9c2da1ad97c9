//! FLAC in fragmented MP4 ("Encapsulation of FLAC in ISO Base Media File Format"): an
//! `fLaC` audio sample entry with its `dfLa` box (the native STREAMINFO block), timescale =
//! the sample rate, each sample one FLAC frame. Fragments are written by [`super::fragment`]
//! with durations in samples at the stream's rate.

use super::boxes::{W, init_segment_with};
use crate::flac::{FLAC_BITS_PER_SAMPLE, FlacFormat};

/// `ftyp` + `moov` for a FLAC track of `format`.
pub fn flac_init_segment(format: &FlacFormat) -> Vec<u8> {
    init_segment_with(format.sample_rate, |w| flac_sample_entry(w, format))
}

fn flac_sample_entry(w: &mut W, f: &FlacFormat) {
    w.boxed(b"fLaC", |w| {
        w.zeros(6).u16(1); // reserved, data_reference_index
        // the rate in 16.16 when it fits, else 0 (the STREAMINFO block has it exactly)
        let rate = if f.sample_rate <= 0xFFFF { f.sample_rate << 16 } else { 0 };
        w.zeros(8).u16(f.channels).u16(u16::from(FLAC_BITS_PER_SAMPLE)).u16(0).u16(0).u32(rate);
        w.full(b"dfLa", 0, 0, |w| {
            // the STREAMINFO block alone, so flagged last
            let mut block = f.streaminfo_block();
            block[0] |= 0x80;
            w.bytes(&block);
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_segment_has_flac_entry_with_streaminfo() {
        let f = FlacFormat::new(44_100, 2, 882).unwrap();
        let b = flac_init_segment(&f);
        let at = |kind: &[u8; 4]| b.windows(4).position(|w| w == kind).unwrap() - 4;
        let d = at(b"dfLa");
        assert_eq!(u32::from_be_bytes(b[d..d + 4].try_into().unwrap()), 12 + 4 + 34);
        assert_eq!(&b[d + 12..d + 16], &[0x80, 0, 0, 34]);
        assert_eq!(&b[d + 16..d + 50], &f.streaminfo());
        let e = at(b"fLaC");
        assert_eq!(&b[e + 24..e + 26], &[0, 2]);
        assert_eq!(&b[e + 32..e + 36], &(44_100u32 << 16).to_be_bytes());
        let md = at(b"mdhd");
        assert_eq!(&b[md + 20..md + 24], &44_100u32.to_be_bytes());
    }
}
