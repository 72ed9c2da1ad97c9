//! The HTTP layer: accepting connections, routing, query parsing, admission and errors.
//! Nothing below this layer (and [`crate::api`]) knows an HTTP type.
//!
//! - [`accept`]: the connection router. A listener's `GET` (SSE, Ogg) is served through
//!   the same router as every request — admission, auth, CORS and errors are the router's —
//!   but its connection then leaves the per-request machinery: the response head is written
//!   there and the socket goes to its feed's writer ([`crate::egress::writer`]). Every other
//!   connection goes to hyper as it came.
//! - [`router`]: the routes, CORS, the JSON fallbacks.
//! - [`admission`]: one admission path for every listener transport (stream, token, state,
//!   limits, registration).
//! - [`query`], [`error`]: query strings and the JSON error responses.
//! - [`rung_query`]: `rung=` and `quality=`, parsed once for every transport.

pub mod accept;
pub mod admission;
pub mod error;
pub mod pending;
pub mod query;
pub mod router;
pub mod rung_query;
pub mod tls;

pub use query::QueryMap;
pub use router::{MountName, StreamId, app};
