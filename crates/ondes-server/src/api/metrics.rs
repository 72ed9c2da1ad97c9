//! `GET /metrics`: Prometheus text exposition (see [`crate::metrics`]).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::SharedState;

pub async fn metrics(State(app): State<SharedState>) -> impl IntoResponse {
    let body = app.metrics.render(&app);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
