//! `[tts]`: the engines `POST …/say` may use and its limits.
//!
//! ```toml
//! [tts]
//! default_engine = "espeak-ng"   # built in: `espeak-ng --stdout`, WAV on stdout
//! max_text_chars = 2000
//! max_queued = 8
//!
//! [[tts.engine]]                 # any command: text on stdin, audio on stdout
//! name = "piper"
//! command = "piper --model en_US-lessac-medium.onnx --output_raw"
//! rate = 22050                   # with `rate`: raw s16le at that rate; without: WAV
//! channels = 1
//!
//! [[tts.engine]]                 # an HTTP service: POST {"text","voice"}, audio streamed back
//! name = "remote"
//! url = "http://127.0.0.1:5002/tts"
//! ```

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The name of the built-in engine.
pub const ESPEAK: &str = "espeak-ng";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TtsSection {
    /// The engine used when a request names none.
    pub default_engine: String,
    /// Longest text accepted, in characters.
    pub max_text_chars: usize,
    /// Utterances that may wait behind the one playing, per stream.
    pub max_queued: usize,
    /// How long an engine may take to produce its first audio before the request fails.
    pub first_audio_timeout_ms: u64,
    /// Seconds of synthesised speech kept ahead of playback; synthesis pauses beyond it.
    pub max_buffered_secs: u64,
    #[serde(rename = "engine")]
    pub engines: Vec<EngineConfig>,
}

impl Default for TtsSection {
    fn default() -> Self {
        TtsSection {
            default_engine: ESPEAK.into(),
            max_text_chars: 2000,
            max_queued: 8,
            first_audio_timeout_ms: 10_000,
            max_buffered_secs: 30,
            engines: Vec::new(),
        }
    }
}

/// One `[[tts.engine]]`: a `command` or a `url`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    pub name: String,
    /// Run with `sh -c`; the text arrives on stdin, the voice in `ONDES_TTS_VOICE`.
    pub command: Option<String>,
    /// POSTed `{"text": …, "voice": …}`; the response body is the audio.
    pub url: Option<String>,
    /// Raw signed 16-bit little-endian PCM at this rate; unset: the output is WAV.
    pub rate: Option<u32>,
    /// Channels of raw PCM (default 1).
    pub channels: Option<u16>,
}

impl TtsSection {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Invalid { key: format!("tts.{key}"), message };
        if self.max_text_chars == 0 {
            return Err(bad("max_text_chars", "must be at least 1".into()));
        }
        if self.first_audio_timeout_ms == 0 {
            return Err(bad("first_audio_timeout_ms", "must be at least 1".into()));
        }
        let mut names = std::collections::HashSet::new();
        for e in &self.engines {
            if e.name.is_empty() || !names.insert(e.name.as_str()) {
                return Err(bad(
                    "engine.name",
                    format!("engine names must be unique and not empty ('{}')", e.name),
                ));
            }
            if e.command.is_some() == e.url.is_some() {
                return Err(bad(
                    "engine",
                    format!("engine '{}' needs exactly one of `command` and `url`", e.name),
                ));
            }
            if e.rate == Some(0) || e.channels == Some(0) {
                return Err(bad(
                    "engine",
                    format!("engine '{}': rate and channels must be positive", e.name),
                ));
            }
            if let Some(u) = &e.url
                && !u.starts_with("http://")
            {
                return Err(bad(
                    "engine.url",
                    format!("engine '{}': url must be http:// (a local service)", e.name),
                ));
            }
        }
        if self.default_engine != ESPEAK && !names.contains(self.default_engine.as_str()) {
            return Err(bad(
                "default_engine",
                format!("'{}' is not espeak-ng nor a [[tts.engine]]", self.default_engine),
            ));
        }
        Ok(())
    }

    /// The engine called `name` (`espeak-ng` is built in unless the config redefines it).
    pub fn engine(&self, name: &str) -> Option<EngineConfig> {
        if let Some(e) = self.engines.iter().find(|e| e.name == name) {
            return Some(e.clone());
        }
        (name == ESPEAK).then(|| EngineConfig { name: ESPEAK.into(), ..Default::default() })
    }

    /// Every engine a request may name.
    pub fn engine_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.engines.iter().map(|e| e.name.clone()).collect();
        if !v.iter().any(|n| n == ESPEAK) {
            v.insert(0, ESPEAK.into());
        }
        v
    }
}
