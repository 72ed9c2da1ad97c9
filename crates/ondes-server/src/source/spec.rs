//! Parsing of source strings like `tone:sine?freq=440`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ondes_codec::SampleFormat;

pub use super::marker::MarkerSpec;

/// Why a source string is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceSpecError {
    #[error(
        "unknown source '{0}'; use tone:demo, tone:sine?freq=440, tone:sweep, tone:noise, marker, file:PATH, stdin:s16le, capture:DEVICE, publish or icecast"
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
    #[error("marker: burst_ms ({burst_ms}) must be shorter than period_ms ({period_ms})")]
    MarkerBurst { burst_ms: u64, period_ms: u64 },
    #[error("capture: needs a device, e.g. capture:default (list them with `ondes devices`)")]
    MissingDevice,
}

/// What a `capture:` source asks of its device.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureSpec {
    /// The device: an ALSA PCM name as `ondes devices` lists it (`default`, `pulse`,
    /// `hw:CARD=PCH,DEV=0`, `plughw:1,0` …) or its description.
    pub device: String,
    /// Channels to open the device with (default: the stream's).
    pub channels: Option<u16>,
    /// Rate to open the device at (default: the stream's; another rate is resampled).
    pub rate: Option<u32>,
    /// The device's period: how much audio each callback brings.
    pub period_ms: f64,
    /// How long to wait between attempts to reopen a device that went away.
    pub retry_ms: u64,
    /// Capacity of the queue between the device's callback and the stream, in ms of audio;
    /// a reader stalled longer than this loses the overflow (counted, reported as a gap).
    pub queue_ms: u64,
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
    /// Silence with a burst at every whole period of wall time, for latency measurements.
    Marker(MarkerSpec),
    /// A sound card (or any input device) read through the system's audio API.
    Capture(CaptureSpec),
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
        // `marker`, `marker:` and `marker?period_ms=500` (no argument before the options)
        if let Some(rest) = s.strip_prefix("marker").filter(|r| r.is_empty() || r.starts_with([':', '?'])) {
            return Self::parse_marker(rest.strip_prefix(':').unwrap_or(rest));
        }
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
            "capture" => {
                const K: &str = "capture";
                let (device, opts) = split_options(rest);
                check_keys(K, &opts, "channels, rate, period_ms, retry_ms, queue_ms")?;
                if device.is_empty() {
                    return Err(SourceSpecError::MissingDevice);
                }
                let rate = match opts.get("rate") {
                    Some(_) => {
                        Some(num(K, &opts, "rate", 48_000u32, 8_000..=192_000, "a sample rate in Hz")?)
                    }
                    None => None,
                };
                let channels = match opts.get("channels") {
                    Some(_) => Some(num(K, &opts, "channels", 2u16, 1..=64, "1 to 64")?),
                    None => None,
                };
                Ok(SourceSpec::Capture(CaptureSpec {
                    device: device.to_string(),
                    channels,
                    rate,
                    period_ms: num(
                        K,
                        &opts,
                        "period_ms",
                        10.0,
                        1.0..=500.0,
                        "milliseconds per callback, 1 to 500",
                    )?,
                    retry_ms: num(
                        K,
                        &opts,
                        "retry_ms",
                        1_000u64,
                        10..=600_000,
                        "milliseconds between reopen attempts",
                    )?,
                    queue_ms: num(
                        K,
                        &opts,
                        "queue_ms",
                        200u64,
                        20..=10_000,
                        "milliseconds of audio, 20 to 10000",
                    )?,
                }))
            }
            "publish" if rest.is_empty() => Ok(SourceSpec::Publish),
            "icecast" if rest.is_empty() => Ok(SourceSpec::Icecast),
            _ => Err(SourceSpecError::UnknownKind(s.into())),
        }
    }
}

impl SourceSpec {
    fn parse_marker(rest: &str) -> Result<SourceSpec, SourceSpecError> {
        const K: &str = "marker";
        let (head, opts) = split_options(rest);
        if !head.is_empty() {
            return Err(SourceSpecError::UnknownKind(format!("marker:{rest}")));
        }
        check_keys(K, &opts, "period_ms, burst_ms, freq, steps, amp")?;
        let d = MarkerSpec::default();
        let spec = MarkerSpec {
            period_ms: num(
                K,
                &opts,
                "period_ms",
                d.period_ms,
                20..=3_600_000,
                "milliseconds, 20 to 3600000",
            )?,
            burst_ms: num(K, &opts, "burst_ms", d.burst_ms, 1..=10_000, "milliseconds, 1 to 10000")?,
            freq: num(K, &opts, "freq", d.freq, 1.0..=20_000.0, "a frequency in Hz")?,
            steps: num(K, &opts, "steps", d.steps, 1..=16, "how many tones to cycle through, 1 to 16")?,
            amplitude: num(K, &opts, "amp", d.amplitude, 0.0..=1.0, "an amplitude in 0..1")?,
        };
        if spec.burst_ms >= spec.period_ms {
            return Err(SourceSpecError::MarkerBurst { burst_ms: spec.burst_ms, period_ms: spec.period_ms });
        }
        Ok(SourceSpec::Marker(spec))
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
        assert_eq!(
            SourceSpec::parse("capture:hw:CARD=PCH,DEV=0?channels=2&rate=48000&period_ms=10").unwrap(),
            SourceSpec::Capture(CaptureSpec {
                device: "hw:CARD=PCH,DEV=0".into(),
                channels: Some(2),
                rate: Some(48_000),
                period_ms: 10.0,
                retry_ms: 1_000,
                queue_ms: 200,
            })
        );
    }

    #[test]
    fn parses_markers() {
        let d = MarkerSpec::default();
        assert_eq!(SourceSpec::parse("marker").unwrap(), SourceSpec::Marker(d));
        assert_eq!(SourceSpec::parse("marker:").unwrap(), SourceSpec::Marker(d));
        assert_eq!(
            SourceSpec::parse("marker?period_ms=500&burst_ms=5&freq=2000&amp=0.25").unwrap(),
            SourceSpec::Marker(MarkerSpec {
                period_ms: 500,
                burst_ms: 5,
                freq: 2000.0,
                steps: 1,
                amplitude: 0.25
            })
        );
        assert_eq!(
            SourceSpec::parse("marker:?period_ms=250&steps=4").unwrap(),
            SourceSpec::Marker(MarkerSpec { period_ms: 250, steps: 4, ..d })
        );
        let e = SourceSpec::parse("marker?burst_ms=500&period_ms=500").unwrap_err().to_string();
        assert!(e.contains("shorter"), "{e}");
        let e = SourceSpec::parse("marker?every=2").unwrap_err().to_string();
        assert!(e.contains("every") && e.contains("period_ms"), "{e}");
        assert!(SourceSpec::parse("marker:x").is_err());
        assert!(SourceSpec::parse("markers").is_err());
    }

    #[test]
    fn capture_options_are_checked() {
        assert_eq!(SourceSpec::parse("capture:"), Err(SourceSpecError::MissingDevice));
        let e = SourceSpec::parse("capture:default?period_ms=0").unwrap_err().to_string();
        assert!(e.contains("period_ms") && e.contains("1 to 500"), "{e}");
        let e = SourceSpec::parse("capture:default?gain=2").unwrap_err().to_string();
        assert!(e.contains("gain") && e.contains("retry_ms"), "{e}");
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
