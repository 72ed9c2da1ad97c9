//! HTTP Basic authentication of Icecast source clients (user `source`, the stream's
//! `source_password`), compared in constant time.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;

/// The user name Icecast source clients send by default.
pub const SOURCE_USER: &str = "source";

/// Why a source was refused; becomes a 401 with `WWW-Authenticate`, as Icecast answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceAuthError {
    #[error("no credentials: send HTTP Basic auth with user 'source' and the stream's source_password")]
    Missing,
    #[error("the Authorization header is not HTTP Basic auth with base64 'user:password'")]
    Malformed,
    #[error("user '{0}' cannot publish; Icecast sources log in as 'source'")]
    User(String),
    #[error("wrong source password for this mount")]
    Password,
}

impl IntoResponse for SourceAuthError {
    fn into_response(self) -> Response {
        let code = match self {
            SourceAuthError::Missing => "missing_credentials",
            _ => "invalid_credentials",
        };
        let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, code, self.to_string()).into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Icecast2 Server\""));
        resp
    }
}

/// Checks the request's Basic credentials against `password`.
///
/// The password comparison is constant-time in the password's content (its length may show,
/// as with any such comparison); the secret is never logged.
pub fn check_source_auth(headers: &HeaderMap, password: &str) -> Result<(), SourceAuthError> {
    let value = headers.get(header::AUTHORIZATION).ok_or(SourceAuthError::Missing)?;
    let value = value.to_str().map_err(|_| SourceAuthError::Malformed)?.trim();
    let (scheme, b64) = value.split_once(' ').ok_or(SourceAuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(SourceAuthError::Malformed);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| SourceAuthError::Malformed)?;
    let colon = raw.iter().position(|&b| b == b':').ok_or(SourceAuthError::Malformed)?;
    let (user, pass) = (&raw[..colon], &raw[colon + 1..]);
    // evaluate both before deciding, so a wrong user takes as long as a wrong password
    let user_ok = user == SOURCE_USER.as_bytes();
    let pass_ok: bool = pass.ct_eq(password.as_bytes()).into();
    if !user_ok {
        return Err(SourceAuthError::User(String::from_utf8_lossy(user).into_owned()));
    }
    if !pass_ok || password.is_empty() {
        return Err(SourceAuthError::Password);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(user_pass);
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        h
    }

    #[test]
    fn accepts_only_source_with_the_password() {
        assert_eq!(check_source_auth(&basic("source:hackme"), "hackme"), Ok(()));
        assert_eq!(check_source_auth(&basic("source:hackm"), "hackme"), Err(SourceAuthError::Password));
        assert_eq!(check_source_auth(&basic("source:hackme:x"), "hackme"), Err(SourceAuthError::Password));
        assert!(matches!(check_source_auth(&basic("admin:hackme"), "hackme"), Err(SourceAuthError::User(_))));
        assert_eq!(check_source_auth(&HeaderMap::new(), "x"), Err(SourceAuthError::Missing));
        assert_eq!(check_source_auth(&basic("source:"), ""), Err(SourceAuthError::Password));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(check_source_auth(&h, "x"), Err(SourceAuthError::Malformed));
    }
}
