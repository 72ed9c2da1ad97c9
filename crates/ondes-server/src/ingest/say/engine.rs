//! Starting a TTS engine and reading its audio as it is produced: a command (espeak-ng
//! built in, or any `[[tts.engine]] command`) writing to stdout, or an HTTP service whose
//! response body streams the audio.

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdout, Command};

use super::config::{ESPEAK, EngineConfig};

/// Why an engine gave no (more) audio.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("engine '{engine}' could not be started: {message}")]
    Start { engine: String, message: String },
    #[error("engine '{engine}' failed: {message}")]
    Failed { engine: String, message: String },
}

/// A running engine.
pub enum EngineOutput {
    Command { engine: String, child: Box<Child>, stdout: ChildStdout, buf: Vec<u8> },
    Http { engine: String, body: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>> },
}

/// Starts `engine` on `text` (with `voice`, if any).
pub async fn start(
    engine: &EngineConfig,
    text: &str,
    voice: Option<&str>,
) -> Result<EngineOutput, EngineError> {
    let name = engine.name.clone();
    if let Some(url) = &engine.url {
        return start_http(name, url, text, voice).await;
    }
    let mut cmd = if engine.name == ESPEAK && engine.command.is_none() {
        let mut c = Command::new("espeak-ng");
        c.arg("--stdout");
        if let Some(v) = voice {
            c.args(["-v", v]);
        }
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c").arg(engine.command.as_deref().unwrap_or_default());
        c.env("ONDES_TTS_VOICE", voice.unwrap_or(""));
        c
    };
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| EngineError::Start {
        engine: name.clone(),
        message: match e.kind() {
            std::io::ErrorKind::NotFound if name == ESPEAK => {
                "espeak-ng is not installed or not on PATH (Debian: apt-get install espeak-ng)".into()
            }
            _ => e.to_string(),
        },
    })?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(EngineError::Start { engine: name, message: "started without its pipes".into() });
    };
    // the text goes through stdin (never argv: text starting with '-' stays text); a writer
    // task, because a long text can exceed the pipe buffer while the engine is busy writing
    let text = text.to_string();
    tokio::spawn(async move {
        // a write error means the engine exited early; its exit status says why
        let _ = stdin.write_all(text.as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
    });
    Ok(EngineOutput::Command { engine: name, child: Box::new(child), stdout, buf: vec![0; 4096] })
}

async fn start_http(
    engine: String,
    url: &str,
    text: &str,
    voice: Option<&str>,
) -> Result<EngineOutput, EngineError> {
    crate::http::tls::install_crypto_provider();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| EngineError::Start { engine: engine.clone(), message: e.to_string() })?;
    let resp =
        client.post(url).json(&serde_json::json!({"text": text, "voice": voice})).send().await.map_err(
            |e| EngineError::Start { engine: engine.clone(), message: format!("POST {url}: {e}") },
        )?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(EngineError::Start {
            engine,
            message: format!("POST {url} answered {status}: {}", body.chars().take(200).collect::<String>()),
        });
    }
    Ok(EngineOutput::Http { engine, body: resp.bytes_stream().boxed() })
}

impl EngineOutput {
    /// The next chunk of audio; `None` at the end of a successful synthesis.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, EngineError> {
        match self {
            EngineOutput::Command { engine, child, stdout, buf } => loop {
                match stdout.read(buf).await {
                    Ok(0) => {
                        let status = child.wait().await.map_err(|e| EngineError::Failed {
                            engine: engine.clone(),
                            message: e.to_string(),
                        })?;
                        if status.success() {
                            return Ok(None);
                        }
                        let mut err = String::new();
                        if let Some(mut e) = child.stderr.take() {
                            let _ = e.read_to_string(&mut err).await;
                        }
                        let err: String = err.trim().chars().take(300).collect();
                        return Err(EngineError::Failed {
                            engine: engine.clone(),
                            message: format!("exited with {status}: {err}"),
                        });
                    }
                    Ok(n) => return Ok(Some(Bytes::copy_from_slice(&buf[..n]))),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(EngineError::Failed { engine: engine.clone(), message: e.to_string() });
                    }
                }
            },
            EngineOutput::Http { engine, body } => match body.next().await {
                None => Ok(None),
                Some(Ok(b)) => Ok(Some(b)),
                Some(Err(e)) => Err(EngineError::Failed { engine: engine.clone(), message: e.to_string() }),
            },
        }
    }
}
