//! Parsing of source strings like `tone:sine?freq=440`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ondes_codec::SampleFormat;

/// Why a source string is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceSpecError {
    #[error(
        "unknown source '{0}'; use tone:demo, tone:sine?freq=440, tone:sweep, tone:noise, file:PATH, stdin:s16le, publish or icecast"
    )]
    UnknownKind(String),
    #[error("unknown tone '{0}'; use demo, sine, sweep or noise")]
    UnknownTone(String),
    #[error("option '{key}' of {kind}: '{value}' is not valid ({hint})")]
    BadOption { kind: &'static str, key: String, value: String, hint: &'static str },
    #[error("unknown option '{key}' for {kind}; valid options: {valid}")]
    UnknownOption { kind: &'static str, key: String, valid: &'static str },
    #[error("file: needs a path, e.g. file:music.flac")]
    MissingPath,
    #[error("stdin: unknown sample format '{0}'; use s16le or f32le")]
    SampleFormat(String),
}

/// The waveform of a tone source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Waveform {
    Demo,
    Sine { freq: f64 },
    Sweep { from: f64, to: f64, period_secs: f64 },
    Noise { seed: u64 },
}

/// A parsed source declaration.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    Tone {
        wave: Waveform,
        amplitude: f32,
    },
    File {
        path: PathBuf,
        looped: bool,
    },
    Stdin {
        format: SampleFormat,
        rate: Option<u32>,
        channels: Option<u16>,
    },
    /// Audio pushed by a publisher over WebSocket or HTTP ingest.
    Publish,
    /// Audio pushed by an Icecast source client (`PUT`/`SOURCE /{id}`).
    Icecast,
}

type Options = BTreeMap<String, String>;

fn split_options(s: &str) -> (&str, Options) {
    let (head, query) = s.split_once('?').unwrap_or((s, ""));
    let opts = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_ascii_lowercase(), v.to_string())
        })
        .collect();
    (head, opts)
}

fn check_keys(kind: &'static str, opts: &Options, valid: &'static str) -> Result<(), SourceSpecError> {
    let allowed: Vec<&str> = valid.split(", ").collect();
    match opts.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(SourceSpecError::UnknownOption { kind, key: k.clone(), valid }),
        None => Ok(()),
    }
}

fn num<T: std::str::FromStr + PartialOrd + Copy>(
    kind: &'static str,
    opts: &Options,
    key: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
    hint: &'static str,
) -> Result<T, SourceSpecError> {
    let Some(v) = opts.get(key) else { return Ok(default) };
    match v.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(SourceSpecError::BadOption { kind, key: key.into(), value: v.clone(), hint }),
    }
}

fn boolean(kind: &'static str, opts: &Options, key: &str) -> Result<bool, SourceSpecError> {
    match opts.get(key).map(|s| s.as_str()) {
        None => Ok(false),
        Some("" | "true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(v) => {
            Err(SourceSpecError::BadOption { kind, key: key.into(), value: v.into(), hint: "true or false" })
        }
    }
}

impl SourceSpec {
    pub fn parse(s: &str) -> Result<SourceSpec, SourceSpecError> {
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "tone" => {
                let (wave, opts) = split_options(rest);
                const K: &str = "tone";
                let amp = |d| num(K, &opts, "amp", d, 0.0f32..=1.0, "an amplitude in 0..1");
                let freq = |key, d| num(K, &opts, key, d, 1.0f64..=96_000.0, "a frequency in Hz");
                Ok(match wave {
                    "" | "demo" => {
                        check_keys(K, &opts, "amp")?;
                        SourceSpec::Tone { wave: Waveform::Demo, amplitude: amp(0.8)? }
                    }
                    "sine" => {
                        check_keys(K, &opts, "freq, amp")?;
                        SourceSpec::Tone {
                            wave: Waveform::Sine { freq: freq("freq", 440.0)? },
                            amplitude: amp(0.5)?,
                        }
                    }
                    "sweep" => {
                        check_keys(K, &opts, "from, to, period, amp")?;
                        let period =
                            num(K, &opts, "period", 10.0, 0.1..=3600.0, "seconds per up-and-down cycle")?;
                        SourceSpec::Tone {
                            wave: Waveform::Sweep {
                                from: freq("from", 100.0)?,
                                to: freq("to", 4000.0)?,
                                period_secs: period,
                            },
                            amplitude: amp(0.5)?,
                        }
                    }
                    "noise" => {
                        check_keys(K, &opts, "amp, seed")?;
                        let seed = num(K, &opts, "seed", 1u64, 0..=u64::MAX, "an integer")?;
                        SourceSpec::Tone { wave: Waveform::Noise { seed }, amplitude: amp(0.2)? }
                    }
                    other => return Err(SourceSpecError::UnknownTone(other.into())),
                })
            }
            "file" => {
                let (path, opts) = split_options(rest);
                check_keys("file", &opts, "loop")?;
                if path.is_empty() {
                    return Err(SourceSpecError::MissingPath);
                }
                Ok(SourceSpec::File { path: PathBuf::from(path), looped: boolean("file", &opts, "loop")? })
            }
            "stdin" => {
                let (fmt, opts) = split_options(rest);
                check_keys("stdin", &opts, "rate, channels")?;
                let format = if fmt.is_empty() { Ok(SampleFormat::S16Le) } else { fmt.parse() }
                    .map_err(|_| SourceSpecError::SampleFormat(fmt.into()))?;
                let rate = match opts.get("rate") {
                    Some(_) => {
                        Some(num("stdin", &opts, "rate", 48_000u32, 8_000..=192_000, "a sample rate in Hz")?)
                    }
                    None => None,
                };
                let channels = match opts.get("channels") {
                    Some(_) => Some(num("stdin", &opts, "channels", 2u16, 1..=8, "1 to 8")?),
                    None => None,
                };
                Ok(SourceSpec::Stdin { format, rate, channels })
            }
            "publish" if rest.is_empty() => Ok(SourceSpec::Publish),
            "icecast" if rest.is_empty() => Ok(SourceSpec::Icecast),
            _ => Err(SourceSpecError::UnknownKind(s.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(
            SourceSpec::parse("tone:demo").unwrap(),
            SourceSpec::Tone { wave: Waveform::Demo, amplitude: 0.8 }
        );
        assert_eq!(
            SourceSpec::parse("tone:sine?freq=1000&amp=0.25").unwrap(),
            SourceSpec::Tone { wave: Waveform::Sine { freq: 1000.0 }, amplitude: 0.25 }
        );
        assert_eq!(
            SourceSpec::parse("file:/tmp/a b.flac?loop=true").unwrap(),
            SourceSpec::File { path: "/tmp/a b.flac".into(), looped: true }
        );
        assert_eq!(
            SourceSpec::parse("stdin:f32le?rate=44100&channels=1").unwrap(),
            SourceSpec::Stdin { format: SampleFormat::F32Le, rate: Some(44_100), channels: Some(1) }
        );
    }

    #[test]
    fn rejects_with_clear_messages() {
        let e = SourceSpec::parse("tone:sine?freq=abc").unwrap_err().to_string();
        assert!(e.contains("freq") && e.contains("abc"), "{e}");
        let e = SourceSpec::parse("tone:sine?volume=1").unwrap_err().to_string();
        assert!(e.contains("volume") && e.contains("freq, amp"), "{e}");
        assert!(SourceSpec::parse("tone:square").is_err());
        assert!(SourceSpec::parse("file:").is_err());
        assert!(SourceSpec::parse("stdin:u8").is_err());
        assert!(SourceSpec::parse("mic").is_err());
        assert!(SourceSpec::parse("tone:sine?amp=2").is_err());
    }
}
