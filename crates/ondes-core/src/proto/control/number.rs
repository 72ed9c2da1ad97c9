//! Numbers in client messages: a known field holds a usable number or reads as absent.
//!
//! Why not refuse the message instead: the server has always read reports this way (a
//! field it cannot use is left out, the rest of the report still counts), and a listener
//! running an older or foreign client should not lose its adaptation over one odd field.
//! Whatever value stands where a number is expected is read past — nested arrays and
//! objects included — and never kept.

use std::fmt;

use serde::Deserializer;
use serde::de::{Error, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A JSON number as the parser saw it (integers stay exact).
#[derive(Debug, Clone, Copy)]
enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Unsigned(v) => v as f64,
            Number::Signed(v) => v as f64,
            Number::Float(v) => v,
        }
    }
}

/// Accepts any value: a number, or `None` for anything else.
struct AnyValue;

impl<'de> Visitor<'de> for AnyValue {
    type Value = Option<Number>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Number::Unsigned(v)))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Number::Signed(v)))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Number::Float(v)))
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bytes<E: Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(AnyValue)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Number>, D::Error> {
    d.deserialize_any(AnyValue)
}

/// A cumulative counter: a non-negative number (a fraction is truncated); 0 otherwise.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(opt_count(d)?.unwrap_or(0))
}

/// A non-negative integer (a fraction is truncated), or `None`.
pub fn opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match number(d)? {
        Some(Number::Unsigned(v)) => Some(v),
        Some(Number::Signed(v)) => u64::try_from(v).ok(),
        // `as` saturates at u64::MAX
        Some(Number::Float(v)) if v.is_finite() && v >= 0.0 => Some(v as u64),
        _ => None,
    })
}

/// A duration or level in ms: a finite non-negative number; 0 otherwise.
pub fn ms<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(opt_ms(d)?.unwrap_or(0.0))
}

/// A finite non-negative number of ms, or `None`.
pub fn opt_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(number(d)?.map(Number::as_f64).filter(|v| v.is_finite() && *v >= 0.0))
}

/// A timestamp in µs on the client's own clock: any integer that fits an `i64` (a fraction
/// is truncated), or `None`.
pub fn opt_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match number(d)? {
        Some(Number::Unsigned(v)) => i64::try_from(v).ok(),
        Some(Number::Signed(v)) => Some(v),
        // `as` saturates at the i64 bounds
        Some(Number::Float(v)) if v.is_finite() => Some(v as i64),
        _ => None,
    })
}
