//! Segmented HTTP streaming (LL-HLS and DASH over the same fMP4 segments), sans-IO.
//!
//! One [`Segmenter`] per (stream, rung) cuts the rung's packets into parts and segments
//! aligned on frame numbers — segment `n` holds frames `n·F .. (n+1)·F` — so numbering is
//! the same whenever the segmenter (re)starts and on every node. It keeps a bounded window
//! of segments, answers whether a blocking playlist or part request can be served now, and
//! renders the media playlist ([`playlist`]). Time is an argument; the caller muxes.

pub mod playlist;
mod segmenter;
#[cfg(test)]
mod tests;

pub use segmenter::{Availability, HlsLayout, LayoutError, Part, PartInfo, Segment, Segmenter};
