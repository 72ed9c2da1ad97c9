//! Query strings parsed leniently, so that a bad value gets our own JSON 400 naming the
//! parameter instead of the framework's plain-text rejection.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::http::error::ApiError;

/// All query parameters (last value wins).
pub struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        QueryMap::parse(parts.uri.query().unwrap_or(""))
    }
}

impl QueryMap {
    /// Parses a query string (without the `?`).
    pub fn parse(q: &str) -> Result<QueryMap, ApiError> {
        let map = serde_urlencoded::from_str::<Vec<(String, String)>>(q).map_err(|e| {
            ApiError::bad_request("bad_query", format!("the query string cannot be parsed: {e}"))
        })?;
        Ok(QueryMap(map.into_iter().collect()))
    }

    /// A positive number parameter, if present.
    pub fn positive_f64(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
                _ => Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("{key}='{v}' is not valid; it must be a positive number"),
                )),
            },
        }
    }
}
