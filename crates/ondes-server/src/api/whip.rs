//! WHIP (`POST /api/streams/{id}/whip`): a WebRTC publisher, with a `publish` token, into a
//! stream fed by publishers; its audio goes through the same playout queue as a WebSocket
//! or HTTP publisher's. A second publisher on a busy stream gets 409.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::whep::{api_error, created, engine, read_offer};
use crate::http::admission::authorize_publisher;
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::state::SharedState;

pub async fn post(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rtc = engine(&app)?;
    // a bad or unknown id is told before the token is checked, as on every route
    app.streams.check_publishable(&id)?;
    let user = authorize_publisher(&app, &id, &headers, &q)?;
    let spec = app.publish_layout(&id)?;
    if ![8_000, 12_000, 16_000, 24_000, 48_000].contains(&spec.sample_rate) {
        return Err(ApiError::bad_request(
            "not_opus_rate",
            format!(
                "stream '{id}' is {} Hz, which Opus cannot decode to; publish over WebSocket or declare the stream at 48000 Hz",
                spec.sample_rate
            ),
        ));
    }
    let (offer, offered) = read_offer(&headers, &body)?;
    // creates the stream when its id matches a template; 409 when another publisher holds it
    let (stream, session) = app.claim_publisher(&id)?;
    let c = rtc.publish(offer, offered, stream.hub.clone(), session).await.map_err(api_error)?;
    tracing::info!(stream = %id, %user, session = %c.session_id, "WHIP publisher");
    Ok(created(&id, "whip", c))
}
