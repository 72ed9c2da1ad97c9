//! Which transport a listen URL asks for.

use super::ListenError;

/// A listen URL, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `ws://…` or `wss://…`: binary audio messages (docs/protocol.md).
    WebSocket(String),
    /// `http://…` or `https://…`: Server-Sent Events.
    Sse(String),
    /// `http://…/whep` or `https://…/whep`: WebRTC (WHEP offer/answer, RTP Opus).
    Whep(String),
}

/// A transport asked for by name (`--transport ws|sse|whep`), whatever the URL says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    WebSocket,
    Sse,
    Whep,
}

impl std::str::FromStr for TransportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ws" | "wss" | "websocket" => Ok(TransportKind::WebSocket),
            "sse" => Ok(TransportKind::Sse),
            "whep" | "webrtc" => Ok(TransportKind::Whep),
            other => Err(format!("unknown transport '{other}': use ws, sse or whep")),
        }
    }
}

impl TransportKind {
    /// The last path segment of a stream's route for this transport.
    fn route(self) -> &'static str {
        match self {
            TransportKind::WebSocket => "ws",
            TransportKind::Sse => "stream",
            TransportKind::Whep => "whep",
        }
    }
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
        let route = path.split('?').next().unwrap_or("");
        if !websocket && route.trim_end_matches('/').ends_with("/whep") {
            return Ok(Endpoint::Whep(format!("{scheme}://{authority}{path}")));
        }
        let default = if websocket { "/api/audio/ws" } else { "/api/audio/stream" };
        let full = match path {
            "" | "/" => format!("{scheme}://{authority}{default}"),
            p if p.starts_with('?') => format!("{scheme}://{authority}{default}{p}"),
            p => format!("{scheme}://{authority}{p}"),
        };
        Ok(if websocket { Endpoint::WebSocket(full) } else { Endpoint::Sse(full) })
    }

    /// Classifies `url` as `kind` asks: the scheme and a stream route's last segment
    /// (`ws`, `stream`, `whep`) are changed to the transport's, so that one URL serves every
    /// transport (`http://h:8080/api/streams/a/stream --transport whep` listens at
    /// `http://h:8080/api/streams/a/whep`).
    pub fn parse_as(url: &str, kind: Option<TransportKind>) -> Result<Endpoint, ListenError> {
        let Some(kind) = kind else { return Endpoint::parse(url) };
        let invalid =
            |reason: &str| ListenError::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("expected ws://… or http://…"))?;
        let tls = matches!(scheme.to_ascii_lowercase().as_str(), "wss" | "https");
        let scheme = match (kind, tls) {
            (TransportKind::WebSocket, false) => "ws",
            (TransportKind::WebSocket, true) => "wss",
            (_, false) => "http",
            (_, true) => "https",
        };
        let (authority, path, query) = match rest.find(['/', '?']) {
            Some(i) => {
                let (path, query) = match rest[i..].find('?') {
                    Some(q) => (&rest[i..i + q], &rest[i + q..]),
                    None => (&rest[i..], ""),
                };
                (&rest[..i], path.trim_end_matches('/'), query)
            }
            None => (rest, "", ""),
        };
        let path = match path.rsplit_once('/') {
            _ if path.is_empty() => format!("/api/audio/{}", kind.route()),
            Some((base, "ws" | "stream" | "whep")) => format!("{base}/{}", kind.route()),
            _ => path.to_string(),
        };
        let full = format!("{scheme}://{authority}{path}{query}");
        match (kind, Endpoint::parse(&full)?) {
            (TransportKind::WebSocket, e @ Endpoint::WebSocket(_))
            | (TransportKind::Sse, e @ Endpoint::Sse(_))
            | (TransportKind::Whep, e @ Endpoint::Whep(_)) => Ok(e),
            _ => Err(invalid(&format!(
                "{path} is not a route for {kind:?}: use a stream's /ws, /stream or /whep route"
            ))),
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Endpoint::WebSocket(u) | Endpoint::Sse(u) | Endpoint::Whep(u) => u,
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
    fn whep_by_path_or_by_name() {
        assert_eq!(
            Endpoint::parse("http://h:1/api/streams/a/whep?rung=auto").unwrap(),
            Endpoint::Whep("http://h:1/api/streams/a/whep?rung=auto".into())
        );
        let whep = Some(TransportKind::Whep);
        assert_eq!(
            Endpoint::parse_as("http://h:1", whep).unwrap(),
            Endpoint::Whep("http://h:1/api/audio/whep".into())
        );
        assert_eq!(
            Endpoint::parse_as("ws://h:1/api/streams/a/ws?rung=64", whep).unwrap(),
            Endpoint::Whep("http://h:1/api/streams/a/whep?rung=64".into())
        );
        assert_eq!(
            Endpoint::parse_as("https://h/api/streams/a/stream", whep).unwrap(),
            Endpoint::Whep("https://h/api/streams/a/whep".into())
        );
        assert_eq!(
            Endpoint::parse_as("http://h/api/streams/a/whep", Some(TransportKind::WebSocket)).unwrap(),
            Endpoint::WebSocket("ws://h/api/streams/a/ws".into())
        );
        assert!(Endpoint::parse_as("http://h/other", whep).is_err());
        assert_eq!("WHEP".parse::<TransportKind>(), Ok(TransportKind::Whep));
        assert!("quic".parse::<TransportKind>().is_err());
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
