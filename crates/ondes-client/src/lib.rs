//! ondes client library.
//!
//! - [`bench`]: load generators that measure a running server (`ondes bench ...`).
//! - [`publisher`]: sends audio to a publish stream (`ondes send ...`).

pub mod bench;
pub mod probe;
pub mod publisher;
