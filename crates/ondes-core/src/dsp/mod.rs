//! Small DSP helpers: anti-aliased decimation and signal levels.

pub mod decimate;
pub mod level;

pub use decimate::Decimator;
pub use level::{peak, rms};
