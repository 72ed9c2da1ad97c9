//! Small DSP helpers: anti-aliased decimation, signal levels and the acquisition meter.

pub mod decimate;
pub mod level;
pub mod meter;

pub use decimate::Decimator;
pub use level::{peak, rms};
pub use meter::{ChannelLevel, LevelMeter};
