//! WHEP (`/api/streams/{id}/whep`) and the HTTP side shared with WHIP: offer/answer,
//! session `Location`s, DELETE, PATCH, OPTIONS, and WebRTC errors as JSON.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::egress::whep::WhepTransport;
use crate::http::admission::admit_listener;
use crate::http::error::ApiError;
use crate::http::rung_query::{RungOffer, rung_choice};
use crate::http::{QueryMap, StreamId};
use crate::state::SharedState;
use crate::webrtc::{AudioOffer, Created, WebRtc, WebRtcError, sdp};

/// The WebRTC error as the API reports it.
pub fn api_error(e: WebRtcError) -> ApiError {
    let msg = e.to_string();
    match e {
        WebRtcError::BadSdp(_) => ApiError::bad_request("bad_sdp", msg),
        WebRtcError::NoAudio => ApiError::bad_request("no_audio", msg),
        WebRtcError::NoOpus => ApiError::bad_request("no_opus", msg),
        WebRtcError::NoOpusRung(_) => ApiError::bad_request("no_opus_rung", msg),
        WebRtcError::Negotiation(_) => ApiError::bad_request("bad_offer", msg),
        WebRtcError::Full(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too_many_sessions", msg).with_retry_after(5)
        }
        WebRtcError::UnknownSession(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_session", msg),
        WebRtcError::Stopped => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "webrtc_stopped", msg),
    }
}

/// The engine, or 503 when WebRTC could not start (its UDP port was taken).
pub fn engine(app: &SharedState) -> Result<&WebRtc, ApiError> {
    app.webrtc.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webrtc_unavailable",
            "WebRTC is not running on this server (its UDP port could not be bound; see webrtc.udp_port)",
        )
    })
}

/// The offer in the body: `Content-Type: application/sdp`, UTF-8, checked for Opus audio.
pub fn read_offer(headers: &HeaderMap, body: &Bytes) -> Result<(String, AudioOffer), ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.trim().to_ascii_lowercase().starts_with("application/sdp") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_sdp",
            format!("send the SDP offer with Content-Type: application/sdp (got '{ct}')"),
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("bad_sdp", "the SDP offer is not UTF-8 text"))?;
    let offered = sdp::check_offer(text).map_err(api_error)?;
    Ok((text.to_string(), offered))
}

/// `201 Created` with the answer, its `Location` and an `ETag`.
pub fn created(stream: &str, kind: &str, c: Created) -> Response {
    let location = format!("/api/streams/{stream}/{kind}/{}", c.session_id);
    let mut r = (StatusCode::CREATED, c.answer).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", c.session_id)) {
        h.insert(header::ETAG, v);
    }
    r
}

/// WebRTC audio is Opus: no PCM, and lossless is on the WebSocket route.
const WHEP_RUNGS: RungOffer = RungOffer {
    transport: "WebRTC",
    pcm: false,
    lossless_elsewhere: Some("/api/streams/{id}/ws?quality=lossless (PCM)"),
};

/// `POST /api/streams/{id}/whep`: a listener's offer → `201` with the answer.
pub async fn post(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: QueryMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rtc = engine(&app)?;
    crate::cluster::edge::ensure_stream(&app, &id, None).await;
    let hub = app.hub(&id)?;
    let choice = rung_choice(&hub, &q, WHEP_RUNGS)?;
    let (offer, offered) = read_offer(&headers, &body)?;
    let admission = admit_listener(&app, &id, peer, &headers, &q, "whep")?;
    let transport = WhepTransport::new(hub, choice, app.config.abr.legacy.rung_kbps)
        .ok_or_else(|| api_error(WebRtcError::NoOpusRung(id.clone())))?;
    let c = rtc.listen(offer, offered, admission, transport).await.map_err(api_error)?;
    tracing::info!(stream = %id, session = %c.session_id, data_channel = offered.data_channel, red = offered.red, "WHEP listener");
    Ok(created(&id, "whep", c))
}

/// `DELETE /api/streams/{id}/whep/{session}` (and `/whip/{session}`): ends the session.
pub async fn delete(
    State(app): State<SharedState>,
    Path((id, session)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    engine(&app)?.delete(&id, &session).await.map_err(api_error)?;
    Ok(StatusCode::OK)
}

/// `PATCH` on a session: trickle ICE and ICE restarts are not supported, so, as WHIP and
/// WHEP ask of such a server, every PATCH gets `405` (with `Allow`, as HTTP requires). The
/// server needs no trickled candidates: it is ICE-lite, all its candidates are in the answer,
/// and it learns the client's address from the client's own connectivity checks, so a client
/// that trickles (or sends an offer with no candidate at all) still connects.
pub async fn patch() -> Response {
    let mut r = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "trickle_not_supported",
        "this server does not take trickle ICE or ICE restarts and needs neither: it learns your \
         address from your connectivity checks; POST a new offer to restart",
    )
    .into_response();
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("DELETE"));
    r
}

/// `OPTIONS` on the WHEP/WHIP endpoint: what it accepts (CORS preflights are answered by the
/// CORS layer when origins are configured).
pub async fn options() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert("accept-post", HeaderValue::from_static("application/sdp"));
    h.insert(header::ALLOW, HeaderValue::from_static("OPTIONS, POST"));
    r
}
