//! ondes client.
