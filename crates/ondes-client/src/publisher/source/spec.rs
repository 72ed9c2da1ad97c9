//! Parsing of publisher source strings: `file:PATH`, `tone:sine?freq=&amp=`,
//! `stdin:s16le?rate=&channels=`, `tts:TEXT`.
//!
//! The spellings follow the server's own source strings (`ondes serve`), so a source that
//! works there works here. `tts:` takes everything after the colon as the text (a question
//! mark in a sentence is not an option separator); surrounding quotes are removed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ondes_codec::SampleFormat;

use super::SourceError;

/// A parsed source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// An audio file (WAV, FLAC, MP3, Ogg Vorbis), resampled and remixed to the stream.
    File { path: PathBuf },
    /// A sine tone (endless: bound it with a duration).
    Sine { freq: f64, amplitude: f32 },
    /// Raw interleaved PCM on standard input.
    Stdin { format: SampleFormat, rate: u32, channels: u16 },
    /// Speech synthesised by espeak-ng as it is sent.
    Tts { text: String },
}

fn options(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_ascii_lowercase(), v.to_string())
        })
        .collect()
}

fn bad(what: &str) -> SourceError {
    SourceError::Spec(what.to_string())
}

fn number<T: std::str::FromStr>(
    opts: &BTreeMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, SourceError> {
    match opts.get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| bad(&format!("option {key}={v} is not a number"))),
    }
}

fn only_keys(kind: &str, opts: &BTreeMap<String, String>, valid: &[&str]) -> Result<(), SourceError> {
    match opts.keys().find(|k| !valid.contains(&k.as_str())) {
        Some(k) => Err(bad(&format!("unknown option '{k}' for {kind}; valid: {}", valid.join(", ")))),
        None => Ok(()),
    }
}

impl SourceSpec {
    /// Parses a source string (see the module docs).
    pub fn parse(s: &str) -> Result<SourceSpec, SourceError> {
        let (kind, rest) = s.split_once(':').ok_or_else(|| {
            bad(&format!(
                "'{s}': use file:PATH, tone:sine?freq=440, stdin:s16le?rate=R&channels=C or tts:TEXT"
            ))
        })?;
        match kind {
            "file" => {
                if rest.is_empty() {
                    return Err(bad("file: needs a path, e.g. file:speech.wav"));
                }
                Ok(SourceSpec::File { path: PathBuf::from(rest) })
            }
            "tone" => {
                let (wave, query) = rest.split_once('?').unwrap_or((rest, ""));
                if !wave.is_empty() && wave != "sine" {
                    return Err(bad(&format!("tone:{wave}: only tone:sine is available to publishers")));
                }
                let opts = options(query);
                only_keys("tone:sine", &opts, &["freq", "amp"])?;
                let freq = number(&opts, "freq", 440.0)?;
                let amplitude = number(&opts, "amp", 0.5)?;
                if !(f64::MIN_POSITIVE..96_000.0).contains(&freq) || !(0.0..=1.0).contains(&amplitude) {
                    return Err(bad("tone:sine needs 0 < freq < 96000 and 0 <= amp <= 1"));
                }
                Ok(SourceSpec::Sine { freq, amplitude })
            }
            "stdin" => {
                let (fmt, query) = rest.split_once('?').unwrap_or((rest, ""));
                let format = if fmt.is_empty() {
                    SampleFormat::S16Le
                } else {
                    fmt.parse().map_err(|e: ondes_codec::PcmError| bad(&e.to_string()))?
                };
                let opts = options(query);
                only_keys("stdin", &opts, &["rate", "channels"])?;
                let rate = opts
                    .get("rate")
                    .ok_or_else(|| bad("stdin: needs rate=, e.g. stdin:s16le?rate=16000&channels=1"))?
                    .parse()
                    .map_err(|_| bad("stdin: rate= must be a positive integer"))?;
                let channels = number(&opts, "channels", 1u16)?;
                if rate == 0 || !(1..=8).contains(&channels) {
                    return Err(bad("stdin: needs rate > 0 and 1..=8 channels"));
                }
                Ok(SourceSpec::Stdin { format, rate, channels })
            }
            "tts" => {
                let text = rest.trim();
                let text = text
                    .strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .or_else(|| text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')))
                    .unwrap_or(text);
                if text.trim().is_empty() {
                    return Err(bad("tts: needs text, e.g. tts:\"Hello there\""));
                }
                Ok(SourceSpec::Tts { text: text.to_string() })
            }
            other => Err(bad(&format!("unknown source kind '{other}'; use file:, tone:, stdin: or tts:"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(SourceSpec::parse("file:a b.wav").unwrap(), SourceSpec::File { path: "a b.wav".into() });
        assert_eq!(
            SourceSpec::parse("tone:sine?freq=1000&amp=0.25").unwrap(),
            SourceSpec::Sine { freq: 1000.0, amplitude: 0.25 }
        );
        assert_eq!(
            SourceSpec::parse("stdin:f32le?rate=8000&channels=2").unwrap(),
            SourceSpec::Stdin { format: SampleFormat::F32Le, rate: 8000, channels: 2 }
        );
        assert_eq!(
            SourceSpec::parse("tts:\"How are you? Fine.\"").unwrap(),
            SourceSpec::Tts { text: "How are you? Fine.".into() }
        );
    }

    #[test]
    fn rejects_with_a_reason() {
        for bad in
            ["nope", "tone:square", "tone:sine?freq=x", "tone:sine?hz=3", "stdin:s16le", "tts:", "mic:0"]
        {
            let e = SourceSpec::parse(bad).unwrap_err().to_string();
            assert!(!e.is_empty(), "{bad}");
        }
    }
}
