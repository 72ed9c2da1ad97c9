//! Sans-IO core of ondes.
//!
//! Nothing in this crate owns a socket, a thread or a clock: time is always an argument
//! (microseconds on a monotonic or wall clock chosen by the caller). That keeps every
//! decision — when a frame is due, what a lagging listener skips, how a signal is
//! decimated — deterministic and testable in simulated time, in the style of str0m and
//! quinn-proto.

pub mod abr;
pub mod cluster_wire;
pub mod device_clock;
pub mod dsp;
pub mod egress;
pub mod frame;
pub mod frame_trace;
#[doc(hidden)]
pub mod fuzz;
pub mod hls;
pub mod jitter;
pub mod pacer;
pub mod perf;
pub mod playout;
pub mod proto;
pub mod quality;
pub mod record;
pub mod ring;
pub mod stretch;
pub mod utterance;

pub use frame::{Frame, FrameDuration, FrameSpec, SpecError};
pub use pacer::{Pacer, PacerPoll};
pub use ring::{Cursor, CursorRead, Ring};
