//! Opus (and FLAC, [`flac_init_segment`]) in fragmented MP4 (ISO/IEC 14496-12, and "Encapsulation of Opus in ISOBMFF"): the
//! init segment (`ftyp` + `moov` with an `Opus` sample entry and its `dOps` box) and media
//! fragments (`moof` + `mdat`), as LL-HLS parts and DASH segments carry them.
//!
//! Written here rather than taken from a crate: the maintained Rust MP4 writers either do
//! not write fragmented files or have no Opus sample entry, and the few boxes needed are
//! small. Timescale is 48000 (Opus always decodes at 48 kHz); each sample is one Opus
//! packet with its duration.

mod boxes;
mod flac;

pub use boxes::{OpusTrack, fragment, init_segment};
pub use flac::flac_init_segment;
