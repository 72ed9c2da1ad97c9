//! ondes client library.
//!
//! - [`bench`]: load generators that measure a running server (`ondes bench ...`).
//! - [`publisher`]: sends audio to a publish stream (`ondes send ...`).
//! - [`listener`]: plays a stream through an adaptive jitter buffer (`ondes listen ...`).

pub mod bench;
pub mod listener;
pub mod probe;
pub mod publisher;
