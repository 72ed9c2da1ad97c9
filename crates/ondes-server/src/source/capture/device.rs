//! Finding an input device by name, checking its formats, and listing devices.

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{BufferSize, SampleFormat, StreamConfig, SupportedBufferSize};

use super::{CaptureError, ConfigRange, DeviceInfo};

/// Sample formats the callback converts, best first.
pub const FORMATS: [SampleFormat; 5] =
    [SampleFormat::F32, SampleFormat::I32, SampleFormat::I16, SampleFormat::U16, SampleFormat::F64];

/// A device and the configuration the source will open it with.
pub struct Chosen {
    pub device: cpal::Device,
    pub config: StreamConfig,
    pub format: SampleFormat,
}

/// The system's audio host (ALSA on Linux).
pub fn host() -> cpal::Host {
    cpal::default_host()
}

/// The device called `name`: `default`, a PCM name as listed (`pulse`, `hw:CARD=PCH,DEV=0`),
/// a PCM shorthand (`hw:1,0`), or a device's description.
pub fn find(host: &cpal::Host, name: &str) -> Result<cpal::Device, CaptureError> {
    if name == "default" {
        return host.default_input_device().ok_or_else(|| unknown(host, name));
    }
    let devices: Vec<cpal::Device> =
        host.input_devices().map_err(|e| CaptureError::Host(e.to_string()))?.collect();
    if let Some(d) = devices.iter().find(|d| d.id().is_ok_and(|id| id.id() == name)) {
        return Ok(d.clone());
    }
    if let Some(d) =
        devices.iter().find(|d| d.description().is_ok_and(|desc| desc.name().eq_ignore_ascii_case(name)))
    {
        return Ok(d.clone());
    }
    host.device_by_id(&cpal::DeviceId::new(host.id(), name)).ok_or_else(|| unknown(host, name))
}

fn unknown(host: &cpal::Host, name: &str) -> CaptureError {
    let names: Vec<String> = host
        .input_devices()
        .map(|ds| ds.filter_map(|d| d.id().ok().map(|id| id.id().to_string())).collect())
        .unwrap_or_default();
    let available = if names.is_empty() {
        "none".to_string()
    } else {
        std::iter::once("default".to_string()).chain(names).collect::<Vec<_>>().join(", ")
    };
    CaptureError::UnknownDevice { device: name.to_string(), available }
}

/// What the device supports, as ranges (opens the device to ask).
pub fn ranges(device: &cpal::Device) -> Result<Vec<ConfigRange>, String> {
    let configs = device.supported_input_configs().map_err(|e| e.to_string())?;
    Ok(configs
        .map(|c| ConfigRange {
            channels: c.channels(),
            min_rate: c.min_sample_rate(),
            max_rate: c.max_sample_rate(),
            format: c.sample_format().to_string(),
        })
        .collect())
}

/// Picks the best format for `channels` × `rate` with a period of `period_frames`, or says
/// what the device supports instead.
pub fn choose(
    host: &cpal::Host,
    name: &str,
    channels: u16,
    rate: u32,
    period_frames: u32,
) -> Result<Chosen, CaptureError> {
    let device = find(host, name)?;
    let configs: Vec<cpal::SupportedStreamConfigRange> = device
        .supported_input_configs()
        .map_err(|e| CaptureError::Open { device: name.to_string(), message: e.to_string() })?
        .collect();
    let fits = |c: &cpal::SupportedStreamConfigRange| c.channels() == channels && c.contains_rate(rate);
    let best = FORMATS
        .iter()
        .find_map(|f| configs.iter().find(|c| fits(c) && c.sample_format() == *f))
        .ok_or_else(|| CaptureError::Unsupported {
            device: name.to_string(),
            wanted: format!("{channels} ch at {rate} Hz"),
            supported: describe(&configs),
        })?;
    let buffer_size = match best.buffer_size() {
        SupportedBufferSize::Range { min, max } if (*min..=*max).contains(&period_frames) => {
            BufferSize::Fixed(period_frames)
        }
        SupportedBufferSize::Range { .. } => BufferSize::Default,
        SupportedBufferSize::Unknown => BufferSize::Fixed(period_frames),
    };
    Ok(Chosen {
        device,
        config: StreamConfig { channels, sample_rate: rate, buffer_size },
        format: best.sample_format(),
    })
}

fn describe(configs: &[cpal::SupportedStreamConfigRange]) -> String {
    let usable: Vec<ConfigRange> = configs
        .iter()
        .filter(|c| FORMATS.contains(&c.sample_format()))
        .map(|c| ConfigRange {
            channels: c.channels(),
            min_rate: c.min_sample_rate(),
            max_rate: c.max_sample_rate(),
            format: c.sample_format().to_string(),
        })
        .collect();
    if usable.is_empty() {
        "no format ondes can read (f32, i32, i16, u16, f64)".into()
    } else {
        super::fold_ranges(&usable).join("; ")
    }
}

/// Every input device with its configurations (`default` first).
pub fn list() -> Result<Vec<DeviceInfo>, CaptureError> {
    let host = host();
    let mut devices: Vec<(String, cpal::Device)> = Vec::new();
    if let Some(d) = host.default_input_device() {
        devices.push(("default".into(), d));
    }
    for d in host.input_devices().map_err(|e| CaptureError::Host(e.to_string()))? {
        let Ok(id) = d.id() else { continue };
        if id.id() != "default" {
            devices.push((id.id().to_string(), d));
        }
    }
    Ok(devices
        .into_iter()
        .map(|(name, d)| {
            let description =
                d.description().map(|desc| desc.name().replace('\n', " — ")).unwrap_or_default();
            let (configs, error) = match ranges(&d) {
                Ok(c) => (c, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            DeviceInfo { name, description, configs, error }
        })
        .collect())
}
