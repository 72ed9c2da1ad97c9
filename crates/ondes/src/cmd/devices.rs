//! `ondes devices`: the input devices a `capture:` source can read, with what they support.

use clap::Args;
use ondes_server::source::capture::{DeviceInfo, fold_ranges, list_devices};

#[derive(Args)]
pub struct DevicesArgs {
    /// Print JSON (an array of {name, description, configs[{channels, min_rate, max_rate, format}], error}).
    #[arg(long)]
    json: bool,
}

pub fn run(args: DevicesArgs) -> anyhow::Result<()> {
    let devices = list_devices()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
    } else {
        print!("{}", table(&devices));
    }
    Ok(())
}

/// A table for people: one row per device and folded configuration range.
fn table(devices: &[DeviceInfo]) -> String {
    let width = devices.iter().map(|d| d.name.len()).max().unwrap_or(6).max(6);
    let mut out = format!("{:width$}  {:<40}  supports\n", "device", "description");
    for d in devices {
        let desc: String = d.description.chars().take(40).collect();
        let lines = fold_ranges(&d.configs);
        let first = match (&d.error, lines.first()) {
            (Some(e), _) => format!("cannot open: {e}"),
            (None, None) => "no configuration".into(),
            (None, Some(c)) => c.clone(),
        };
        out += &format!("{:width$}  {:<40}  {first}\n", d.name, desc);
        for c in lines.iter().skip(1) {
            out += &format!("{:width$}  {:<40}  {c}\n", "", "");
        }
    }
    out += "\nuse one as source = \"capture:<device>?channels=2&rate=48000&period_ms=10\"\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_server::source::capture::ConfigRange;

    #[test]
    fn table_lists_every_range_and_errors() {
        let devices = vec![
            DeviceInfo {
                name: "pulse".into(),
                description: "PulseAudio Sound Server".into(),
                configs: vec![
                    ConfigRange { channels: 1, min_rate: 8_000, max_rate: 192_000, format: "i16".into() },
                    ConfigRange { channels: 2, min_rate: 8_000, max_rate: 192_000, format: "i16".into() },
                    ConfigRange { channels: 3, min_rate: 8_000, max_rate: 192_000, format: "i16".into() },
                    ConfigRange { channels: 1, min_rate: 8_000, max_rate: 192_000, format: "f32".into() },
                    ConfigRange { channels: 2, min_rate: 8_000, max_rate: 192_000, format: "f32".into() },
                    ConfigRange { channels: 3, min_rate: 8_000, max_rate: 192_000, format: "f32".into() },
                    ConfigRange { channels: 6, min_rate: 48_000, max_rate: 48_000, format: "f32".into() },
                ],
                error: None,
            },
            DeviceInfo {
                name: "hw:CARD=0,DEV=0".into(),
                description: String::new(),
                configs: vec![],
                error: Some("busy".into()),
            },
        ];
        let t = table(&devices);
        assert!(t.contains("pulse") && t.contains("1–3 ch, 8000–192000 Hz: f32, i16"), "{t}");
        assert!(t.contains("6 ch, 48000 Hz: f32"), "{t}");
        assert!(t.contains("hw:CARD=0,DEV=0") && t.contains("cannot open: busy"), "{t}");
    }
}
