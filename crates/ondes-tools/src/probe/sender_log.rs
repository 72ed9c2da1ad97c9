//! `ondes probe --sender-log FILE`: reads a sender's frame log (`ondes send --frame-log`),
//! fetches the server's trace of each connection it names (or reads traces from files), and
//! classifies every frame ([`ondes_core::frame_trace::classify`]): never sent, sent late,
//! lost on the network, delivered, or unknown.

use std::collections::BTreeSet;

use ondes_core::frame_trace::{ConnectionTrace, SenderLogReport, SentFrame, classify};

use super::ProbeError;
use super::server::get_json;

/// Where the server's side comes from.
#[derive(Debug, Clone)]
pub struct SenderLogOptions {
    /// `http://HOST:PORT` of the server (with `stream`), to fetch traces from.
    pub server: Option<String>,
    pub stream: String,
    pub token: Option<String>,
    /// Connections to fetch; empty: every connection the log names. A frame the log does
    /// not place on a connection is matched against the first one given.
    pub conns: Vec<u64>,
    /// Traces already fetched (JSON files of the trace route), used instead of the server.
    pub traces: Vec<ConnectionTrace>,
    /// A frame handed to the socket more than this after its due time was sent late, ms.
    pub late_ms: f64,
}

/// Parses a frame log: one JSON object per line (blank lines skipped).
pub fn parse_log(text: &str) -> Result<Vec<SentFrame>, ProbeError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                ProbeError::Url(format!(
                    "frame log line {}: {e} (expected what `ondes send --frame-log` writes)",
                    i + 1
                ))
            })
        })
        .collect()
}

/// The trace of `conn` on `stream` from the server.
pub async fn fetch_trace(
    server: &str,
    stream: &str,
    conn: u64,
    token: Option<&str>,
) -> Result<ConnectionTrace, ProbeError> {
    let url = format!("{}/api/streams/{stream}/debug/connections/{conn}/trace", server.trim_end_matches('/'));
    let v = get_json(&url, token).await?;
    serde_json::from_value(v).map_err(|e| ProbeError::Connect(format!("{url}: not a trace: {e}")))
}

/// Classifies every frame of `log`.
pub async fn run_sender_log(
    mut log: Vec<SentFrame>,
    opts: SenderLogOptions,
) -> Result<SenderLogReport, ProbeError> {
    if let Some(&first) = opts.conns.first() {
        for f in log.iter_mut().filter(|f| f.sent && f.conn.is_none()) {
            f.conn = Some(first);
        }
    }
    let mut traces = opts.traces;
    if traces.is_empty() {
        let wanted: BTreeSet<u64> = if opts.conns.is_empty() {
            log.iter().filter_map(|f| f.conn).collect()
        } else {
            opts.conns.iter().copied().collect()
        };
        let server = opts.server.as_deref().ok_or_else(|| {
            ProbeError::Url(
                "--sender-log needs --server URL (and --stream ID) to fetch the traces, or --trace FILE"
                    .into(),
            )
        })?;
        for conn in wanted {
            traces.push(fetch_trace(server, &opts.stream, conn, opts.token.as_deref()).await?);
        }
    }
    Ok(classify(&log, &traces, opts.late_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_parses_and_bad_lines_are_named() {
        let text = "{\"seq\":0,\"conn\":3,\"frame_us\":20000,\"capture_us\":1,\"send_us\":2,\"bytes\":9,\"sent\":true}\n\n\
                    {\"seq\":1,\"frame_us\":20000,\"capture_us\":1,\"bytes\":9,\"sent\":false,\"why\":\"fault_injection\"}\n";
        let log = parse_log(text).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!((log[0].conn, log[1].sent), (Some(3), false));
        let e = parse_log("{\"seq\":0}\nnot json").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
