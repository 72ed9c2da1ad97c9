//! ondes server.
