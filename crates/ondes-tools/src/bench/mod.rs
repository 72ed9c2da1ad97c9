//! Load generators that measure a running ondes server.
//!
//! - [`fanout`]: many concurrent listeners on one runtime (`ondes bench fanout`).
//! - [`floor`]: the least a server can do to fan a stream out, measured beside ondes
//!   (`ondes bench floor`).
//! - [`soak`]: an hour (or more) of listeners and publishers coming and going, with a verdict
//!   from the trend of the server's memory and open files (`ondes bench soak`).
//! - [`proc_stats`]: CPU, RSS and socket-owner lookups from `/proc`.
//! - [`sse_scan`]: a lean incremental SSE scanner that reads only the metadata of audio events.
//! - [`m3u8`]: the parts of an LL-HLS media playlist, and which a client missed.
//! - [`http1`]: the minimal HTTP/1.1 client pieces the listeners need (URL, response head,
//!   chunked transfer decoding).
//!
//! Latencies go into [`ondes_client::histogram::LatencyHistogram`], the one the client
//! library's listener uses too.

pub mod fanout;
pub mod floor;
pub mod http1;
pub mod m3u8;
pub mod proc_stats;
pub mod soak;
pub mod sse_scan;

mod reader;
mod stats;

/// Errors of the load generators.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("unknown transport {0:?} (supported: sse, ws, http, whep, hls)")]
    UnknownTransport(String),
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{listeners} listeners need more open files than the limit allows ({limit}); \
         raise the hard limit (`ulimit -Hn`, /etc/security/limits.conf or LimitNOFILE=)"
    )]
    FileLimit { listeners: usize, limit: u64 },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the first connections to {url} failed over TLS ({reason}): {advice}")]
    TlsRefused { url: String, reason: String, advice: String },
}
