//! The Ogg container (RFC 3533), page level: a page writer and an incremental demuxer.
//!
//! Written here rather than taken from the `ogg` crate (0.9) because that crate is built
//! around `io::Read + Seek` / `io::Write`: its `PacketWriter` owns the writer, its
//! `PacketReader` pulls from a reader. ondes needs the opposite shape on both sides:
//!
//! - egress makes each page once and hands the same bytes to every listener's socket, so the
//!   writer must return bytes ([`OggPageWriter`] appends to a `Vec<u8>`);
//! - ingest gets bytes in whatever chunks the network delivers and must not block or seek, so
//!   the demuxer is fed and polled ([`OggDemuxer`]), sans-IO like the rest of ondes.
//!
//! Both are small (the format is a 27-byte header, a lacing table and a CRC), and owning them
//! also lets the demuxer count what it discards (bad CRCs, garbage, sequence gaps) instead of
//! hiding it.

mod crc;
mod demux;
mod page;
mod renumber;

pub use crc::ogg_crc;
pub use demux::{DEFAULT_MAX_PACKET_BYTES, MAX_STREAMS, OggDemuxStats, OggDemuxer, OggPacket};
pub use page::{OggPageWriter, PAGE_HEADER_LEN, page_granule, page_sequence};
pub use renumber::{PageRenumberer, set_page_sequence};

/// Flag bit of a page that starts with the continuation of a packet from the previous page.
pub const FLAG_CONTINUED: u8 = 0x01;
/// Flag bit of a logical stream's first page.
pub const FLAG_BOS: u8 = 0x02;
/// Flag bit of a logical stream's last page.
pub const FLAG_EOS: u8 = 0x04;
/// Granule position of a page on which no packet ends (-1 as an unsigned 64-bit value).
pub const NO_GRANULE: u64 = u64::MAX;
