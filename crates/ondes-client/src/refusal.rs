//! The server's error bodies (`{"error": code, "message": …}`, docs/protocol.md), read one
//! way by every part of the client.

use ondes_core::proto::control::ErrorMessage;

/// The code and message of a refusal's body. A body that is not the server's JSON (a proxy's
/// page, say) has no code, and its text is the message.
pub(crate) fn code_and_message(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ErrorMessage>(body) {
        Ok(e) => (e.error, e.message),
        Err(_) => (String::new(), String::from_utf8_lossy(body).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_plain_bodies() {
        let (c, m) = code_and_message(br#"{"error":"unauthorized","message":"send a token"}"#);
        assert_eq!((c.as_str(), m.as_str()), ("unauthorized", "send a token"));
        let (c, m) = code_and_message(b"<html>502 Bad Gateway</html>");
        assert_eq!((c.as_str(), m.as_str()), ("", "<html>502 Bad Gateway</html>"));
    }
}
