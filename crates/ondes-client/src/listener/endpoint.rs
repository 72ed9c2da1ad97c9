//! Which transport a listen URL asks for.

use super::ListenError;

/// A listen URL, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `ws://…` or `wss://…`: binary audio messages (docs/protocol.md).
    WebSocket(String),
    /// `http://…` or `https://…`: Server-Sent Events.
    Sse(String),
}

impl Endpoint {
    /// Classifies `url`; a URL without a path gets the default stream's route.
    pub fn parse(url: &str) -> Result<Endpoint, ListenError> {
        let invalid =
            |reason: &str| ListenError::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("expected ws://… or http://…"))?;
        let scheme = scheme.to_ascii_lowercase();
        let websocket = match scheme.as_str() {
            "ws" | "wss" => true,
            "http" | "https" => false,
            _ => {
                return Err(invalid(
                    "the scheme must be ws:// or wss:// (WebSocket), http:// or https:// (Server-Sent Events)",
                ));
            }
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(invalid("missing host"));
        }
        let default = if websocket { "/api/audio/ws" } else { "/api/audio/stream" };
        let full = match path {
            "" | "/" => format!("{scheme}://{authority}{default}"),
            p if p.starts_with('?') => format!("{scheme}://{authority}{default}{p}"),
            p => format!("{scheme}://{authority}{p}"),
        };
        Ok(if websocket { Endpoint::WebSocket(full) } else { Endpoint::Sse(full) })
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
        assert_eq!(Endpoint::parse("wss://h").unwrap(), Endpoint::WebSocket("wss://h/api/audio/ws".into()));
        assert_eq!(Endpoint::parse("https://h/x").unwrap(), Endpoint::Sse("https://h/x".into()));
        for bad in ["ftp://h", "h:8080/x", "ws:///x"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
