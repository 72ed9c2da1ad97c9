//! Time-varying link scripts: one segment per line, `DURATION PROFILE [key=value ...]`.
//!
//! ```text
//! # wifi, then a 64 kbit/s link for 20 s, then wifi again (the built-in `drop` script)
//! 20s wifi
//! 20s custom bw=64kbps delay=50ms loss=1%
//! 20s wifi
//! ```
//!
//! `#` starts a comment. Overrides are the keys of [`LinkParams::set`]. After the last line
//! its link holds for as long as the run lasts.

use super::NetmodelError;
use super::params::{LinkParams, PROFILE_NAMES};
use super::schedule::Schedule;
use super::units::parse_time_us;

/// The built-in `drop` script: a Wi-Fi link that falls to 64 kbit/s for 20 s, then recovers.
pub const DROP_SCRIPT: &str = "\
# wifi, then a 64 kbit/s link for 20 s, then wifi again
20s wifi
20s custom bw=64kbps delay=50ms loss=1%
20s wifi
";

/// Names accepted by [`schedule_by_name`]: the link profiles (except `custom`) and `drop`.
pub const SCENARIO_NAMES: [&str; 5] = ["3g", "wifi", "fiber", "satellite", "drop"];

/// Parses a script.
pub fn parse_script(text: &str) -> Result<Schedule, NetmodelError> {
    let mut parts = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |e: NetmodelError| NetmodelError::Script { line: n + 1, message: e.to_string() };
        let (dur, spec) = line.split_once(char::is_whitespace).ok_or_else(|| NetmodelError::Script {
            line: n + 1,
            message: format!("expected `DURATION PROFILE [key=value ...]`, got {line:?}"),
        })?;
        let dur = parse_time_us("duration", dur).map_err(err)?;
        let params = LinkParams::parse_spec(spec.trim()).map_err(err)?;
        parts.push((dur, params));
    }
    if parts.is_empty() {
        return Err(NetmodelError::Script { line: 0, message: "the script has no segments".into() });
    }
    Ok(Schedule::sequence(parts))
}

/// A named scenario: a constant link profile or the `drop` script.
pub fn schedule_by_name(name: &str) -> Result<Schedule, NetmodelError> {
    match name {
        "drop" => parse_script(DROP_SCRIPT),
        "custom" => Ok(Schedule::constant(LinkParams::ideal())),
        _ if PROFILE_NAMES.contains(&name) => Ok(Schedule::constant(LinkParams::profile(name)?)),
        _ => Err(NetmodelError::UnknownProfile(name.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_script_parses() {
        let s = parse_script(DROP_SCRIPT).unwrap();
        assert_eq!(s.segments().len(), 3);
        assert_eq!(s.params_at(25_000_000).bandwidth_bps, Some(64_000));
        assert_eq!(s.params_at(25_000_000).delay_us, 50_000);
        assert_eq!(s.params_at(45_000_000).bandwidth_bps, Some(1_000_000));
        // the last segment holds
        assert_eq!(s.params_at(500_000_000).bandwidth_bps, Some(1_000_000));
        assert_eq!(s.next_rate_drop(0), Some(20_000_000));
    }

    #[test]
    fn script_errors_name_the_line() {
        let e = parse_script("20s wifi\n5x wifi\n").unwrap_err();
        assert!(matches!(e, NetmodelError::Script { line: 2, .. }), "{e}");
        let e = parse_script("20s wifi loss=lots").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(parse_script("# nothing\n").is_err());
        assert!(schedule_by_name("moon").is_err());
        for n in SCENARIO_NAMES {
            schedule_by_name(n).unwrap();
        }
    }
}
