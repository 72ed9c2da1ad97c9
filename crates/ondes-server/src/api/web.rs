//! The dashboard and the JS client: the static files of `web/static/`, embedded in the binary.
//!
//! `GET /` is `index.html`; every other file is served at `/<name>` (`/app.js`,
//! `/client.js`, `/worklet.js`, …). One route per file is registered when the router is
//! built, so unknown paths still reach the API's JSON 404 fallback.
//!
//! Release builds embed the files (running the server needs neither Node nor the source
//! tree). Debug builds read them from `web/static/` at run time (rust-embed's default), so
//! the dashboard can be edited without rebuilding; the list of files is taken when the
//! router is built.
//!
//! Caching: the file names are not content-hashed, so every response is `Cache-Control:
//! no-cache` with a strong `ETag` (the file's SHA-256): a browser revalidates and gets a
//! cheap `304` when nothing changed, and never runs an old `app.js` with a new `index.html`.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;
use tower_http::compression::CompressionLayer;

use crate::http::error::ApiError;
use crate::state::SharedState;

#[derive(Embed)]
#[folder = "../../web/static/"]
struct Assets;

/// The routes of the static files (`/` and `/<file>`), gzip-compressed when accepted.
pub fn router() -> Router<SharedState> {
    let mut router = Router::new().route("/", get(serve));
    for name in Assets::iter() {
        if name == "index.html" || name.contains(['{', '}', '*']) {
            continue;
        }
        router = router.route(&format!("/{name}"), get(serve));
    }
    router.layer(CompressionLayer::new())
}

async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    let name = if path.is_empty() { "index.html" } else { path };
    let Some(file) = Assets::get(name) else {
        // only possible in debug builds, when a file was deleted after start-up
        return ApiError::not_found(format!("no file {}", uri.path())).into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let etag = HeaderValue::from_str(&etag).expect("hex is a valid header value");
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    h.insert(header::ETAG, etag);
    if fresh {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    (StatusCode::OK, h, file.data.into_owned()).into_response()
}

/// Content-Type by extension (the few kinds the dashboard uses).
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("style.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn the_dashboard_files_are_embedded() {
        let names: Vec<String> = Assets::iter().map(|n| n.into_owned()).collect();
        for f in ["index.html", "app.js", "client.js", "player.js", "jitter-buffer.js", "worklet.js"] {
            assert!(names.iter().any(|n| n == f), "{f} missing from {names:?}");
        }
    }
}
