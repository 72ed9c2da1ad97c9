//! ondes client library.
//!
//! - [`bench`]: load generators that measure a running server (`ondes bench ...`).

pub mod bench;
