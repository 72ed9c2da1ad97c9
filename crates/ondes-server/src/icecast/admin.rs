//! `GET /admin/metadata?mount=/{id}&mode=updinfo&song=…`: Icecast's title update, as source
//! clients (butt, Liquidsoap, Mixxx, ices, ffmpeg scripts) send it beside their stream.
//!
//! Credentials are those of the mount's source (HTTP Basic, user `source`, the stream's
//! `source_password`), as for the source's `PUT`; on a stream not fed by Icecast sources
//! (no source password) a bearer token with `stream_control` is needed instead, and it is
//! accepted on any stream. `song` is the title; without it, `artist` and `title` make
//! `"artist - title"` as Icecast does. Success answers Icecast's XML body; errors are the
//! server's JSON errors (`400` bad query or a title too long for an ICY block, `401`
//! credentials, `404` unknown mount).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Permission;
use crate::http::QueryMap;
use crate::http::admission::bearer_token;
use crate::http::error::ApiError;
use crate::ingest::icecast::auth::check_source_auth;
use crate::state::SharedState;
use crate::stream_title::TitleError;

/// Icecast's answer to a successful update.
const UPDATED: &str = "<?xml version=\"1.0\"?>\n<iceresponse><message>Metadata update successful</message><return>1</return></iceresponse>\n";

pub async fn metadata(State(app): State<SharedState>, headers: HeaderMap, q: QueryMap) -> Response {
    match update(&app, &headers, &q) {
        Ok(()) => {
            let mut r = UPDATED.into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
            r
        }
        Err(e) => *e,
    }
}

/// A refusal, as the response to send (boxed: a response is large).
type Refusal = Box<Response>;

fn refuse(e: impl IntoResponse) -> Refusal {
    Box::new(e.into_response())
}

fn update(app: &SharedState, headers: &HeaderMap, q: &QueryMap) -> Result<(), Refusal> {
    let bad = |m: String| refuse(ApiError::bad_request("bad_query", m));
    let mount_name = q.0.get("mount").ok_or_else(|| bad("mount is required, e.g. mount=/live".into()))?;
    let segment = mount_name.trim_start_matches('/');
    match q.0.get("mode").map(String::as_str) {
        Some("updinfo") => {}
        other => {
            return Err(bad(format!(
                "mode must be updinfo (the only metadata mode served; got {})",
                other.unwrap_or("nothing")
            )));
        }
    }
    let mount = app.mount(segment).map_err(|e| refuse(ApiError::from(e)))?;
    // who may set it: the mount's source, or a controller with a token
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer "));
    match &mount.source {
        Some(slot) if !bearer => check_source_auth(headers, slot.password()).map_err(|e| {
            static LIMIT: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);
            if let Some(suppressed) = LIMIT.check() {
                tracing::warn!(mount = %mount.id, reason = %e, suppressed, "Icecast metadata update refused");
            }
            refuse(e)
        })?,
        _ => {
            let token = bearer_token(headers, q);
            app.auth
                .authorize(token.as_deref(), Permission::StreamControl, Some(&mount.id))
                .map_err(|e| refuse(ApiError::from(e)))?;
        }
    }
    let title = match (q.0.get("song"), q.0.get("artist"), q.0.get("title")) {
        (Some(song), _, _) => song.clone(),
        (None, Some(a), Some(t)) => format!("{a} - {t}"),
        (None, Some(one), None) | (None, None, Some(one)) => one.clone(),
        (None, None, None) => return Err(bad("song is required (or artist and title)".into())),
    };
    mount.set_title(&title).map_err(|e| {
        let code = match e {
            TitleError::TooLong(_) => "title_too_long",
            TitleError::Control => "bad_title",
        };
        refuse(ApiError::bad_request(code, e.to_string()))
    })
}
