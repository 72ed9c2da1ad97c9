//! API errors: a status code and a JSON body `{"error": "<code>", "message": "<what and how to fix>"}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error returned to an HTTP client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable code (snake_case).
    pub code: &'static str,
    /// What went wrong and how to fix it, for people.
    pub message: String,
    /// Seconds for a `Retry-After` header (limits, overload).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "message": self.message });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        let (status, code) = match &e {
            AuthError::Missing => (StatusCode::UNAUTHORIZED, "missing_token"),
            AuthError::Expired => (StatusCode::UNAUTHORIZED, "token_expired"),
            AuthError::NotYetValid => (StatusCode::UNAUTHORIZED, "token_not_yet_valid"),
            AuthError::BadSignature => (StatusCode::UNAUTHORIZED, "invalid_signature"),
            AuthError::Malformed(_) => (StatusCode::UNAUTHORIZED, "invalid_token"),
            AuthError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AuthError::StreamNotAllowed(_) => (StatusCode::FORBIDDEN, "forbidden"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<crate::hub::registry::RegistryError> for ApiError {
    fn from(e: crate::hub::registry::RegistryError) -> Self {
        use crate::hub::registry::RegistryError as R;
        let message = e.to_string();
        match e {
            R::BadId(_) => ApiError::bad_request("bad_stream_id", message),
            R::NotLive { .. } => ApiError::new(StatusCode::NOT_FOUND, "stream_not_live", message),
            R::Unknown { .. } => ApiError::not_found(message),
            R::Full { .. } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too_many_streams", message)
                .with_retry_after(10),
            R::Exists(_) => ApiError::new(StatusCode::CONFLICT, "stream_exists", message),
        }
    }
}

impl From<crate::connections::RegisterError> for ApiError {
    fn from(e: crate::connections::RegisterError) -> Self {
        use crate::connections::RegisterError as R;
        let (status, code) = match e {
            R::ServerFull { .. } => (StatusCode::SERVICE_UNAVAILABLE, "server_full"),
            R::TooManyFromIp { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_connections"),
        };
        ApiError::new(status, code, e.to_string()).with_retry_after(5)
    }
}

impl From<crate::stream::ClaimError> for ApiError {
    fn from(e: crate::stream::ClaimError) -> Self {
        use crate::stream::ClaimError as C;
        let message = e.to_string();
        match e {
            C::Registry(r) => r.into(),
            C::NotPublish(_) => ApiError::new(StatusCode::CONFLICT, "not_a_publish_stream", message),
            C::NotIcecast(_) => ApiError::new(StatusCode::CONFLICT, "not_an_icecast_mount", message),
            C::Busy(_) => ApiError::new(StatusCode::CONFLICT, "publisher_busy", message),
            C::Build { .. } => {
                tracing::error!(error = %message, "creating a stream on demand failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "stream_not_created", message)
            }
        }
    }
}

/// Fallback for unknown routes: a JSON 404 like every other error.
pub async fn not_found_fallback(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {}; see /api/streams for the streams and their URLs",
        uri.path()
    ))
}
