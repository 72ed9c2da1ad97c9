//! Bearer tokens: JWT (HS256) with permissions.
//!
//! A token carries `sub`, `exp`, `permissions` and optionally `streams` (the stream ids it
//! is limited to). `admin` implies every permission. Signature checks are done by
//! `jsonwebtoken` (constant-time HMAC comparison); the secret is never logged.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Subscribe,
    Publish,
    StreamControl,
    DebugAccess,
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::Subscribe,
        Permission::Publish,
        Permission::StreamControl,
        Permission::DebugAccess,
        Permission::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Permission::Subscribe => "subscribe",
            Permission::Publish => "publish",
            Permission::StreamControl => "stream_control",
            Permission::DebugAccess => "debug_access",
            Permission::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// JWT claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    #[serde(default)]
    pub iat: Option<u64>,
    /// Permission names; unknown names are ignored (forward compatibility).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Not before, seconds since the epoch: the token is refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Stream ids this token is limited to; absent = all streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<Vec<String>>,
}

impl Claims {
    pub fn has(&self, p: Permission) -> bool {
        self.permissions.iter().any(|n| n == p.name() || n == Permission::Admin.name())
    }

    pub fn allows_stream(&self, id: &str) -> bool {
        self.streams.as_ref().is_none_or(|s| s.iter().any(|x| x == id))
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "this endpoint needs a token: send 'Authorization: Bearer <token>' (or ?access_token= for EventSource); mint one with 'ondes token'"
    )]
    Missing,
    #[error("the token has expired; mint a new one with 'ondes token'")]
    Expired,
    #[error(
        "the token's signature does not match this server's secret (forged, or minted with another secret)"
    )]
    BadSignature,
    #[error("the token is not valid yet (its 'nbf' claim is in the future); check the clocks or wait")]
    NotYetValid,
    #[error("the token is not valid: {0}; mint one with 'ondes token'")]
    Malformed(&'static str),
    #[error("the token lacks permission '{0}'")]
    Forbidden(&'static str),
    #[error("the token does not allow stream '{0}'")]
    StreamNotAllowed(String),
}

/// Tolerance, in seconds, on a token's `exp` and `nbf` for clocks that differ.
pub const LEEWAY_SECS: u64 = 5;

/// Verifies and mints tokens with one secret.
#[derive(Clone)]
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator { secret: <redacted> }")
    }
}

impl Authenticator {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // clocks of the minting and the checking host may differ a little: `exp` and `nbf`
        // are checked with LEEWAY_SECS of tolerance (documented in the README)
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Authenticator {
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
            validation,
        }
    }

    /// Mints a token for `sub` with `permissions`, valid for `ttl_secs` from `now_secs`.
    pub fn mint(&self, sub: &str, permissions: &[Permission], ttl_secs: u64, now_secs: u64) -> String {
        let claims = Claims {
            sub: sub.into(),
            exp: now_secs + ttl_secs,
            iat: Some(now_secs),
            nbf: None,
            permissions: permissions.iter().map(|p| p.name().to_string()).collect(),
            streams: None,
        };
        self.mint_claims(&claims)
    }

    pub fn mint_claims(&self, claims: &Claims) -> String {
        // HS256 with an HMAC key accepts any key length and serialising these plain
        // claims cannot fail
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).unwrap_or_default()
    }

    /// Checks signature and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                // what is wrong, in words: the library's own error names mean nothing to a
                // client and tell a stranger what the server runs
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthError::Malformed("it is not signed with HS256")
                }
                ErrorKind::MissingRequiredClaim(_) => {
                    AuthError::Malformed("it lacks a required claim ('sub' and 'exp' are required)")
                }
                ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => {
                    AuthError::Malformed("its header or claims are not the expected JSON")
                }
                ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                    AuthError::Malformed("a part of it is not base64url-encoded JSON")
                }
                _ => AuthError::Malformed("it is not a JWT of three base64url parts"),
            },
        )
    }

    /// Checks that `token` (as the request carried it, if it did) has `perm` for `stream`.
    /// Finding the token in a request is the HTTP layer's job (`http::admission::bearer_token`).
    pub fn authorize(
        &self,
        token: Option<&str>,
        perm: Permission,
        stream: Option<&str>,
    ) -> Result<Claims, AuthError> {
        let claims = self.verify(token.ok_or(AuthError::Missing)?)?;
        if !claims.has(perm) {
            return Err(AuthError::Forbidden(perm.name()));
        }
        if let Some(id) = stream
            && !claims.allows_stream(id)
        {
            return Err(AuthError::StreamNotAllowed(id.into()));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn mint_and_verify() {
        let a = Authenticator::new(b"s3cret");
        let t = a.mint("alice", &[Permission::StreamControl], 3600, now());
        let c = a.verify(&t).unwrap();
        assert_eq!(c.sub, "alice");
        assert!(c.has(Permission::StreamControl));
        assert!(!c.has(Permission::DebugAccess));
    }

    #[test]
    fn admin_implies_all() {
        let a = Authenticator::new(b"k");
        let c = a.verify(&a.mint("root", &[Permission::Admin], 60, now())).unwrap();
        assert!(Permission::ALL.iter().all(|p| c.has(*p)));
    }

    #[test]
    fn expired_forged_malformed() {
        let a = Authenticator::new(b"k");
        let old = a.mint("x", &[Permission::Admin], 10, now() - 3600);
        assert_eq!(a.verify(&old), Err(AuthError::Expired));
        let other = Authenticator::new(b"other").mint("x", &[Permission::Admin], 60, now());
        assert_eq!(a.verify(&other), Err(AuthError::BadSignature));
        assert!(matches!(a.verify("not.a.jwt"), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn authorize_checks_permission_and_stream() {
        let a = Authenticator::new(b"k");
        assert_eq!(a.authorize(None, Permission::Subscribe, None), Err(AuthError::Missing));
        let mut claims = a.verify(&a.mint("x", &[Permission::Subscribe], 60, now())).unwrap();
        claims.streams = Some(vec!["a".into()]);
        let t = a.mint_claims(&claims);
        assert!(a.authorize(Some(&t), Permission::Subscribe, Some("a")).is_ok());
        assert_eq!(
            a.authorize(Some(&t), Permission::Subscribe, Some("b")),
            Err(AuthError::StreamNotAllowed("b".into()))
        );
        assert_eq!(
            a.authorize(Some(&t), Permission::StreamControl, None),
            Err(AuthError::Forbidden("stream_control"))
        );
    }
}
