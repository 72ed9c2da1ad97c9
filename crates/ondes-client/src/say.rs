//! Speaking text into a stream: `POST /api/streams/{id}/say` (see docs/say.md).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What to say.
#[derive(Debug, Clone, Serialize)]
pub struct SayRequest {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub interrupt: bool,
}

/// The server's answer, plus the round trip this client measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SayAnswer {
    pub utterance: u64,
    /// `playing` (its first frame is in the stream), `queued` (behind another utterance,
    /// audio ready) or `interrupted` (a barge-in cut it before it started).
    pub state: String,
    #[serde(default)]
    pub engine: String,
    /// Request arrival → first frame of audio synthesised, ms.
    pub first_pcm_ms: Option<f64>,
    /// First audio synthesised → first frame in the stream, ms.
    pub queued_ms: Option<f64>,
    /// Request arrival → first frame in the stream, ms.
    pub first_frame_ms: Option<f64>,
    /// Utterances ahead of this one.
    pub position: Option<u64>,
    /// Sending the request → reading the answer, ms (this client's clock).
    #[serde(default)]
    pub round_trip_ms: f64,
}

/// Why speaking failed.
#[derive(Debug, thiserror::Error)]
pub enum SayError {
    #[error("cannot reach {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("the server refused ({status}): {error}: {message}")]
    Refused { status: u16, error: String, message: String },
    #[error("unexpected answer from the server: {0}")]
    Answer(String),
}

/// Says `req` on stream `stream` of the server at `server` (`http://HOST:PORT`).
pub async fn say(
    client: &reqwest::Client,
    server: &str,
    stream: &str,
    token: Option<&str>,
    req: &SayRequest,
) -> Result<SayAnswer, SayError> {
    let url = format!("{}/api/streams/{stream}/say", server.trim_end_matches('/'));
    let mut r = client.post(&url).json(req).timeout(Duration::from_secs(30));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let sent = Instant::now();
    let resp = r.send().await.map_err(|source| SayError::Http { url: url.clone(), source })?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|source| SayError::Http { url, source })?;
    let round_trip_ms = sent.elapsed().as_secs_f64() * 1000.0;
    if !(200..300).contains(&status) {
        let (code, message) = crate::refusal::code_and_message(&body);
        let error = if code.is_empty() { "error".to_string() } else { code };
        return Err(SayError::Refused { status, error, message });
    }
    let mut a: SayAnswer = serde_json::from_slice(&body).map_err(|e| SayError::Answer(e.to_string()))?;
    a.round_trip_ms = round_trip_ms;
    Ok(a)
}
