//! The HTTP layer below the router: how connections are accepted and routed.
//!
//! [`accept::ConnectionRouter`] looks at the first request of each connection. A listener's
//! `GET` (SSE, Ogg) is served through the same router as every request — admission, auth,
//! CORS and errors are the router's — but its connection then leaves the per-request
//! machinery: the response head is written here and the socket goes to the feed's writer
//! ([`crate::egress::writer`]). Every other connection goes to hyper as it came.

pub mod accept;
