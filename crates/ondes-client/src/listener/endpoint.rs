//! Which transport a listen URL asks for.

use super::ListenError;

/// A listen URL, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `ws://…`: binary audio messages (docs/protocol.md).
    WebSocket(String),
    /// `http://…`: Server-Sent Events.
    Sse(String),
}

impl Endpoint {
    /// Classifies `url`; a URL without a path gets the default stream's route.
    pub fn parse(url: &str) -> Result<Endpoint, ListenError> {
        let invalid =
            |reason: &str| ListenError::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("expected ws://… or http://…"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "wss" || scheme == "https" {
            return Err(invalid(
                "TLS is not built into this client; use ws:// or http:// (or a TLS-terminating proxy)",
            ));
        }
        if scheme != "ws" && scheme != "http" {
            return Err(invalid("the scheme must be ws:// (WebSocket) or http:// (Server-Sent Events)"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(invalid("missing host"));
        }
        let path = match path {
            "" | "/" if scheme == "ws" => "/api/audio/ws",
            "" | "/" => "/api/audio/stream",
            p if p.starts_with('?') && scheme == "ws" => {
                return Ok(Endpoint::WebSocket(format!("ws://{authority}/api/audio/ws{p}")));
            }
            p if p.starts_with('?') => {
                return Ok(Endpoint::Sse(format!("http://{authority}/api/audio/stream{p}")));
            }
            p => p,
        };
        let full = format!("{scheme}://{authority}{path}");
        Ok(if scheme == "ws" { Endpoint::WebSocket(full) } else { Endpoint::Sse(full) })
    }

    pub fn url(&self) -> &str {
        match self {
            Endpoint::WebSocket(u) | Endpoint::Sse(u) => u,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_fills_default_paths() {
        assert_eq!(
            Endpoint::parse("ws://h:1/api/streams/a/ws?rung=64").unwrap(),
            Endpoint::WebSocket("ws://h:1/api/streams/a/ws?rung=64".into())
        );
        assert_eq!(Endpoint::parse("ws://h:1").unwrap(), Endpoint::WebSocket("ws://h:1/api/audio/ws".into()));
        assert_eq!(
            Endpoint::parse("ws://h:1?rung=pcm16").unwrap(),
            Endpoint::WebSocket("ws://h:1/api/audio/ws?rung=pcm16".into())
        );
        assert_eq!(Endpoint::parse("HTTP://h/").unwrap(), Endpoint::Sse("http://h/api/audio/stream".into()));
        assert_eq!(
            Endpoint::parse("http://h/api/streams/b/stream?format=pcm16").unwrap(),
            Endpoint::Sse("http://h/api/streams/b/stream?format=pcm16".into())
        );
    }

    #[test]
    fn rejects_what_it_cannot_do() {
        for bad in ["wss://h/x", "https://h/x", "ftp://h", "h:8080/x", "ws:///x"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
