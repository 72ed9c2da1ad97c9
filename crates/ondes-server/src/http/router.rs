//! HTTP routes. [`app`] builds the whole router from the shared state.
//!
//! `/api/streams/{id}/…` serves each stream; `/api/audio/…` is the alias for `main`.
//! JSON endpoints are gzip-compressed when the client accepts it; the SSE endpoint never is
//! (compression would buffer events and add latency).

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Path};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{delete, get, post};
use std::collections::HashMap;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::http::error::{ApiError, not_found_fallback};
use crate::state::SharedState;

/// The stream a request is about: the `{id}` path segment, or `main` on `/api/audio/*`.
///
/// A segment that cannot be decoded (percent-encoded bytes that are not UTF-8) is a 400:
/// it must never fall back to `main`, or a request meant for one stream would act on another.
pub struct StreamId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for StreamId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let has_id = parts.extensions.get::<MatchedPath>().is_some_and(|m| m.as_str().contains("{id}"));
        if !has_id {
            return Ok(StreamId("main".into()));
        }
        Ok(StreamId(path_param(parts, state, "id").await?))
    }
}

/// The Icecast mount a request is about: the `{mount}` path segment (same rule as
/// [`StreamId`] for segments that are not UTF-8).
pub struct MountName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for MountName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(MountName(path_param(parts, state, "mount").await?))
    }
}

/// One named path parameter, or a JSON 400 naming what is wrong with it.
async fn path_param<S: Send + Sync>(parts: &mut Parts, state: &S, name: &str) -> Result<String, ApiError> {
    let bad = |detail: String| {
        ApiError::bad_request(
            "bad_stream_id",
            format!(
                "the stream id in the path cannot be read ({detail}); ids are UTF-8 text like 'main' or 'room-1'"
            ),
        )
    };
    let params: Path<HashMap<String, String>> =
        Path::from_request_parts(parts, state).await.map_err(|e| bad(e.body_text()))?;
    params.0.get(name).cloned().ok_or_else(|| bad(format!("no '{name}' segment")))
}

/// The whole HTTP API.
pub fn app(state: SharedState) -> Router {
    let json = Router::new()
        .route("/api/streams", get(crate::api::streams::list))
        .route("/api/cluster", get(crate::api::cluster::describe))
        .route(
            "/api/time",
            get(|| async { axum::Json(serde_json::json!({"server_time_us": crate::clock::now_us()})) }),
        )
        .route("/api/streams/{id}/stats", get(crate::api::stats::stream_stats))
        .route("/api/audio/stats", get(crate::api::stats::stream_stats))
        .route("/api/streams/{id}/recordings", get(crate::api::recordings::list))
        .route("/api/streams/{id}/report", get(crate::api::report::stream_report))
        .route("/api/audio/report", get(crate::api::report::stream_report))
        .route("/api/streams/{id}/control", post(crate::api::control::control))
        .route("/api/audio/control", post(crate::api::control::control))
        .route("/api/streams/{id}/say", post(crate::api::say::say))
        .route("/api/audio/say", post(crate::api::say::say))
        .route("/api/streams/{id}/debug/connections", get(crate::api::stats::debug_connections))
        .route("/api/audio/debug/connections", get(crate::api::stats::debug_connections))
        .route("/api/streams/{id}/debug/connections/{conn}/trace", get(crate::api::trace::trace))
        .route("/api/audio/debug/connections/{conn}/trace", get(crate::api::trace::trace))
        .route("/api/perf", get(crate::api::perf::report))
        .route("/status-json.xsl", get(crate::icecast::status::status_json))
        .route("/admin/metadata", get(crate::icecast::admin::metadata))
        .route("/admin/metadata.xsl", get(crate::icecast::admin::metadata))
        .route("/api/perf/summary", get(crate::api::perf::summary))
        .route("/api/perf/spans", post(crate::api::perf::post_spans))
        .layer(CompressionLayer::new());
    let streaming = Router::new()
        .route("/api/streams/{id}/stream", get(crate::api::sse::stream))
        .route("/api/audio/stream", get(crate::api::sse::stream))
        .route("/api/streams/{id}/ws", get(crate::api::ws::ws))
        .route("/api/audio/ws", get(crate::api::ws::ws))
        .route("/api/streams/{id}/publish", get(crate::ingest::ws::publish))
        .route("/api/audio/publish", get(crate::ingest::ws::publish))
        .route("/api/streams/{id}/ingest", post(crate::ingest::http::ingest))
        .route("/api/audio/ingest", post(crate::ingest::http::ingest))
        .route("/api/streams/{id}/whep", post(crate::api::whep::post).options(crate::api::whep::options))
        .route("/api/audio/whep", post(crate::api::whep::post).options(crate::api::whep::options))
        .route("/api/streams/{id}/whip", post(crate::api::whip::post).options(crate::api::whep::options))
        .route("/api/audio/whip", post(crate::api::whip::post).options(crate::api::whep::options))
        .route(
            "/api/streams/{id}/whep/{session}",
            delete(crate::api::whep::delete).patch(crate::api::whep::patch),
        )
        .route(
            "/api/streams/{id}/whip/{session}",
            delete(crate::api::whep::delete).patch(crate::api::whep::patch),
        )
        .route("/api/streams/{id}/hls/index.m3u8", get(crate::api::hls::multivariant))
        .route("/api/audio/hls/index.m3u8", get(crate::api::hls::multivariant))
        .route("/api/streams/{id}/hls/{kbps}/{file}", get(crate::api::hls::rung_file))
        // the alias's multivariant playlist names its variants relative to itself
        .route("/api/audio/hls/{kbps}/{file}", get(crate::api::hls::rung_file))
        .route("/api/streams/{id}/dash/manifest.mpd", get(crate::api::dash::manifest))
        .route("/api/audio/dash/manifest.mpd", get(crate::api::dash::manifest))
        .route(crate::egress::dash::TIME_PATH, get(crate::api::dash::time))
        // Icecast mounts at the root: static routes (`/`, `/metrics`, the dashboard's files)
        // take precedence over the parameter, and unknown mounts answer a JSON 404
        .route("/{mount}", get(crate::icecast::listen::listen).put(crate::ingest::icecast::source::source));
    let mut router = Router::new()
        .merge(json)
        .merge(streaming)
        .route("/metrics", get(crate::api::metrics::metrics))
        .merge(crate::api::web::router())
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method; see the API reference in the README",
            )
        });
    if let Some(cors) = cors_layer(&state.config) {
        router = router.layer(cors);
    }
    router.with_state(state)
}

/// CORS for the configured origins: credentials allowed, `Authorization` and `Content-Type`
/// headers allowed, `Retry-After` readable by the page. Error responses pass through this
/// layer too, so a page can read their status.
fn cors_layer(config: &Config) -> Option<CorsLayer> {
    let origins = &config.cors.allowed_origins;
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::mirror_request()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PATCH, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
            ])
            // WHEP/WHIP clients read the session's Location and ETag
            .expose_headers([header::RETRY_AFTER, header::LOCATION, header::ETAG])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
