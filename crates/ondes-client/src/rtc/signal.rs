//! WHEP/WHIP signalling over HTTP: one POST of the SDP offer (`201 Created` with the answer
//! and the session's `Location`), one DELETE of that `Location` at the end.
//!
//! The server is ICE-lite and puts all its candidates in the answer, so there is no trickle
//! ICE (PATCH): the client's offer carries its one host candidate too.

use std::net::IpAddr;
use std::time::Duration;

use crate::tls::{TlsOptions, explain};

/// Why the offer/answer exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("the token contains characters not allowed in an HTTP header")]
    BadToken,
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server answered with an error; `code` and `message` are its JSON error's.
    #[error("the server refused the offer: HTTP {status} {code}: {message}")]
    Refused { status: u16, code: String, message: String },
    #[error("the server's answer is unusable: {0}")]
    BadAnswer(String),
}

/// A created WHEP or WHIP session: where to DELETE it.
pub struct WhepSession {
    client: reqwest::Client,
    /// The session's absolute URL (`Location`, resolved against the endpoint).
    pub location: Option<String>,
    token: Option<String>,
    /// How long the POST took (a round trip to the server plus its work).
    pub post_rtt: Duration,
}

/// The server's IP for `url` (the UDP socket binds on the address that routes to it).
pub async fn server_ip(url: &str) -> Result<IpAddr, SignalError> {
    let invalid = |reason: &str| SignalError::InvalidUrl { url: url.into(), reason: reason.into() };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    let host = parsed.host_str().ok_or_else(|| invalid("missing host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse() {
        return Ok(ip);
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| SignalError::Connect(format!("cannot resolve {host}: {e}")))?;
    addrs.next().map(|a| a.ip()).ok_or_else(|| SignalError::Connect(format!("{host} has no address")))
}

/// POSTs `offer` to `url` (a `…/whep` or `…/whip` endpoint) and returns the answer's SDP
/// and the session.
pub async fn post_offer(
    url: &str,
    offer: &str,
    token: Option<&str>,
    timeout: Duration,
    tls: &TlsOptions,
) -> Result<(String, WhepSession), SignalError> {
    let client = tls.http_client(url).map_err(|e| SignalError::Connect(e.to_string()))?;
    let mut req = client.post(url).header("content-type", "application/sdp").body(offer.to_string());
    if let Some(t) = token {
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).is_err() {
            return Err(SignalError::BadToken);
        }
        req = req.bearer_auth(t);
    }
    let asked = std::time::Instant::now();
    let resp = match tokio::time::timeout(timeout, req.send()).await {
        Err(_) => return Err(SignalError::Connect(format!("no answer within {timeout:?}"))),
        Ok(Err(e)) => return Err(SignalError::Connect(explain(&e))),
        Ok(Ok(r)) => r,
    };
    let post_rtt = asked.elapsed();
    let status = resp.status();
    let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = resp.bytes().await.map_err(|e| SignalError::Connect(e.to_string()))?;
    if !status.is_success() {
        return Err(refused(status.as_u16(), &body));
    }
    let answer = String::from_utf8(body.to_vec()).map_err(|_| SignalError::BadAnswer("not UTF-8".into()))?;
    let location = match location {
        // relative to the endpoint (RFC 3986 reference resolution)
        Some(l) => Some(
            reqwest::Url::parse(url)
                .and_then(|base| base.join(&l))
                .map_err(|e| SignalError::BadAnswer(format!("Location {l:?}: {e}")))?
                .to_string(),
        ),
        None => None,
    };
    Ok((answer, WhepSession { client, location, token: token.map(str::to_string), post_rtt }))
}

/// A refusal from its status and JSON error body (or the body's text when it is not JSON).
fn refused(status: u16, body: &[u8]) -> SignalError {
    let (code, message) = crate::refusal::code_and_message(body);
    SignalError::Refused { status, code, message }
}

impl WhepSession {
    /// Ends the session on the server (`DELETE Location`); a failure is only logged: the
    /// server drops a session whose peer went quiet anyway.
    pub async fn delete(&self) {
        let Some(url) = &self.location else { return };
        let mut req = self.client.delete(url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        match tokio::time::timeout(Duration::from_secs(2), req.send()).await {
            Ok(Ok(r)) if r.status().is_success() => {}
            Ok(Ok(r)) => tracing::debug!(status = %r.status(), %url, "DELETE of the WebRTC session refused"),
            Ok(Err(e)) => tracing::debug!(error = %e, %url, "DELETE of the WebRTC session failed"),
            Err(_) => tracing::debug!(%url, "DELETE of the WebRTC session timed out"),
        }
    }
}

/// The SDP without its `a=candidate` lines (and the end-of-candidates marker): the media then
/// goes to a proxy in front of the server (`--via`) instead of the server's candidates.
pub fn without_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate:") && !l.starts_with("a=end-of-candidates"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_servers_words() {
        let e = refused(401, br#"{"error":"unauthorized","message":"send a token"}"#);
        assert_eq!(e.to_string(), "the server refused the offer: HTTP 401 unauthorized: send a token");
        let e = refused(502, b"Bad Gateway");
        assert_eq!(e.to_string(), "the server refused the offer: HTTP 502 : Bad Gateway");
    }
}
