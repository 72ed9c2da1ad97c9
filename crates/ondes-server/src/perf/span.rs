//! Spans posted by applications (`POST /api/perf/spans`): parsing and validation.
//!
//! A batch is `{"spans": [...]}` or a bare array. A span is
//! `{"name": "tts_synthesis", "start_us": 1763700000123456, "duration_us": 420800, "ok": true,
//! "timeout": false, "attributes": {...}}`: `name` and `duration_us` are required; `start_us`
//! (µs since the Unix epoch) defaults to "it just ended", `ok` to true, `timeout` to false;
//! `attributes` must be an object of strings, numbers or booleans if present; they are
//! filed per (key, value) with the span's duration (bounded: see
//! [`ondes_core::perf::AttrStats`]), so `/api/perf` shows which values go with slow spans. The whole
//! batch is checked before anything is recorded, and the first bad field is reported by
//! its path (`spans[2].duration_us`), so a client can fix its code from the message.

use ondes_core::perf::validate_name;
use serde_json::Value;

/// The longest span accepted, in µs (one hour): one absurd duration would otherwise rank
/// its stage the worst for as long as it stays in the window.
pub const MAX_SPAN_US: u64 = 3_600_000_000;

/// A validated span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub name: String,
    pub start_us: Option<u64>,
    pub duration_us: u64,
    pub ok: bool,
    pub timeout: bool,
    /// `(key, value)` with numbers and booleans as text, in key order.
    pub attributes: Vec<(String, String)>,
}

impl Span {
    /// The time to file the span under: its end, but never later than `now_us` (a client
    /// clock ahead of ours must not put measurements in the future).
    pub fn end_us(&self, now_us: u64) -> u64 {
        match self.start_us {
            Some(s) => s.saturating_add(self.duration_us).min(now_us),
            None => now_us,
        }
    }
}

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpanError {
    #[error("{count} spans in one request; send at most {max} per request (perf.max_spans_per_request)")]
    TooMany { count: usize, max: usize },
    #[error(
        "the body must be {{\"spans\": [...]}} or an array of spans like \
         {{\"name\": \"tts_synthesis\", \"duration_us\": 420000, \"ok\": true}}"
    )]
    Shape,
    #[error("spans[{index}].{field} {message}")]
    Field { index: usize, field: &'static str, message: String },
    #[error("spans[{index}] must be an object with at least name and duration_us")]
    NotObject { index: usize },
}

/// Parses and validates a whole batch.
pub fn parse_batch(body: &Value, max: usize) -> Result<Vec<Span>, SpanError> {
    let items = match body {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("spans") {
            Some(Value::Array(a)) => a,
            _ => return Err(SpanError::Shape),
        },
        _ => return Err(SpanError::Shape),
    };
    if items.len() > max {
        return Err(SpanError::TooMany { count: items.len(), max });
    }
    items.iter().enumerate().map(|(i, v)| parse_span(i, v)).collect()
}

fn parse_span(index: usize, v: &Value) -> Result<Span, SpanError> {
    let Value::Object(o) = v else { return Err(SpanError::NotObject { index }) };
    let err = |field, message: &str| SpanError::Field { index, field, message: message.to_string() };
    let name = match o.get("name") {
        None | Some(Value::Null) => {
            return Err(err("name", "is required: a string of 1 to 64 characters from a-z 0-9 _ . -"));
        }
        Some(Value::String(s)) => s,
        Some(_) => return Err(err("name", "must be a string of 1 to 64 characters from a-z 0-9 _ . -")),
    };
    validate_name(name).map_err(|reason| SpanError::Field {
        index,
        field: "name",
        message: format!("'{}' {reason}", name.chars().take(80).collect::<String>()),
    })?;
    let duration_us = match o.get("duration_us") {
        None | Some(Value::Null) => {
            return Err(err("duration_us", "is required: a non-negative integer (microseconds)"));
        }
        Some(d) => {
            d.as_u64().ok_or_else(|| err("duration_us", "must be a non-negative integer (microseconds)"))?
        }
    };
    if duration_us > MAX_SPAN_US {
        return Err(err(
            "duration_us",
            "must be at most 3600000000 (one hour); a longer span is a clock or unit error",
        ));
    }
    let start_us = match o.get("start_us") {
        None | Some(Value::Null) => None,
        Some(s) => Some(s.as_u64().ok_or_else(|| {
            err("start_us", "must be a non-negative integer (microseconds since the Unix epoch)")
        })?),
    };
    let flag = |field: &'static str, default: bool| match o.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(err(field, "must be true or false")),
    };
    let ok = flag("ok", true)?;
    let timeout = flag("timeout", false)?;
    let mut attributes = Vec::new();
    match o.get("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(SpanError::Field {
                            index,
                            field: "attributes",
                            message: format!(
                                "'{}' must be a string, a number or a boolean",
                                k.chars().take(64).collect::<String>()
                            ),
                        });
                    }
                };
                attributes.push((k.clone(), text));
            }
        }
        Some(_) => return Err(err("attributes", "must be an object")),
    }
    Ok(Span { name: name.clone(), start_us, duration_us, ok, timeout, attributes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> String {
        parse_batch(&v, 3).unwrap_err().to_string()
    }

    #[test]
    fn both_shapes_and_defaults() {
        let one = json!({"name": "tts_synthesis", "duration_us": 5});
        let a = parse_batch(&json!([one]), 3).unwrap();
        let b = parse_batch(&json!({"spans": [one]}), 3).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a[0],
            Span {
                name: "tts_synthesis".into(),
                start_us: None,
                duration_us: 5,
                ok: true,
                timeout: false,
                attributes: Vec::new()
            }
        );
        let full = json!([{"name": "x", "start_us": 10, "duration_us": 5, "ok": false, "timeout": true, "attributes": {"model": "m"}}]);
        let s = &parse_batch(&full, 3).unwrap()[0];
        assert_eq!((s.start_us, s.ok, s.timeout), (Some(10), false, true));
        assert_eq!(s.attributes, [("model".to_string(), "m".to_string())]);
        assert_eq!(s.end_us(100), 15);
        assert_eq!(s.end_us(12), 12, "never in the future");
        assert!(parse_batch(&json!([]), 3).unwrap().is_empty());
    }

    #[test]
    fn errors_name_index_and_field() {
        let ok = json!({"name": "a", "duration_us": 1});
        assert_eq!(
            msg(json!([ok, ok, {"name": "a", "duration_us": -5}])),
            "spans[2].duration_us must be a non-negative integer (microseconds)"
        );
        assert!(msg(json!([{"name": "a", "duration_us": 1.5}])).starts_with("spans[0].duration_us"));
        assert!(msg(json!([{"name": "a"}])).starts_with("spans[0].duration_us is required"));
        assert!(msg(json!([ok, {"duration_us": 1}])).starts_with("spans[1].name is required"));
        assert!(msg(json!([{"name": 7, "duration_us": 1}])).starts_with("spans[0].name must be a string"));
        assert!(
            msg(json!([{"name": "TTS X", "duration_us": 1}])).contains("spans[0].name 'TTS X' must use only")
        );
        assert!(
            msg(json!([{"name": "a", "duration_us": 1, "start_us": "now"}])).starts_with("spans[0].start_us")
        );
        assert!(
            msg(json!([{"name": "a", "duration_us": 1, "ok": "yes"}]))
                .starts_with("spans[0].ok must be true or false")
        );
        assert!(
            msg(json!([{"name": "a", "duration_us": 1, "attributes": [1]}]))
                .starts_with("spans[0].attributes")
        );
        assert_eq!(
            msg(json!([{"name": "a", "duration_us": 1, "attributes": {"n": 2, "deep": {"x": 1}}}])),
            "spans[0].attributes 'deep' must be a string, a number or a boolean"
        );
        assert_eq!(msg(json!([ok, 3])), "spans[1] must be an object with at least name and duration_us");
        assert!(msg(json!({"span": []})).starts_with("the body must be"));
        assert!(msg(json!("x")).starts_with("the body must be"));
        assert_eq!(
            parse_batch(&json!([ok, ok, ok, ok]), 3).unwrap_err(),
            SpanError::TooMany { count: 4, max: 3 }
        );
    }
}
