//! Interoperability both ways with the reference tools: our Ogg/Opus files decoded by ffmpeg
//! (libopus) and opusdec, and files from `ffmpeg -c:a libopus` and opusenc decoded by us.

use std::path::Path;

use ondes_codec::OggOpusMuxer;
use ondes_codec::encode_f32le;
use ondes_codec::ogg_opus::OggOpusDecoder;
use ondes_codec::opus::{OpusApplication, OpusConfig, OpusEngine};
use serde::Serialize;

use super::CodecBenchError;
use super::codec::encode;
use super::metrics::{Quality, compare};
use super::signals::{ffmpeg_decode, path_str, run};

#[derive(Debug, Clone, Serialize)]
pub struct InteropRow {
    pub engine: String,
    /// Who encoded → who decoded.
    pub path: String,
    pub signal: String,
    pub quality: Quality,
}

/// Our encoder's Ogg/Opus file of `pcm` (look-ahead flushed, end trimmed by the granule).
fn our_file(engine: OpusEngine, cfg: &OpusConfig, pcm: &[f32]) -> Result<Vec<u8>, CodecBenchError> {
    let enc = encode(engine, cfg, pcm)?;
    let pre_skip = (enc.lookahead * 48_000 / cfg.sample_rate as usize) as u16;
    let mut mux = OggOpusMuxer::new(7, cfg.channels, cfg.sample_rate, pre_skip)?;
    let mut file = mux.headers();
    let frame_48k = cfg.frame_us * 48 / 1000;
    let (last, body) = enc.packets.split_last().ok_or(CodecBenchError::Empty)?;
    for p in body {
        file.extend(mux.push(p, frame_48k));
    }
    let input_48k = (pcm.len() / usize::from(cfg.channels)) as u64 * 48_000 / u64::from(cfg.sample_rate);
    let keep = (u64::from(pre_skip) + input_48k).saturating_sub(mux.granule_position());
    file.extend(mux.push_last(last, frame_48k, keep as u32));
    Ok(file)
}

fn ours_decode(engine: OpusEngine, file: &[u8], rate: u32) -> Result<Vec<f32>, CodecBenchError> {
    let mut dec = OggOpusDecoder::with_engine(rate, None, engine)?;
    let mut pcm = Vec::new();
    dec.feed(file);
    dec.end_of_input();
    dec.read(&mut pcm)?;
    Ok(pcm)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CodecBenchError> {
    std::fs::write(path, bytes).map_err(|e| CodecBenchError::Io(path.display().to_string(), e))
}

pub fn measure(
    engine: OpusEngine,
    dir: &Path,
    signal: &str,
    pcm: &[f32],
    channels: u16,
) -> Result<Vec<InteropRow>, CodecBenchError> {
    let rate = 48_000;
    let ch = usize::from(channels);
    let (kbps, app) = if channels == 1 { (32, OpusApplication::Voip) } else { (128, OpusApplication::Audio) };
    let cfg = OpusConfig {
        channels,
        bitrate_bps: kbps * 1000,
        application: app,
        complexity: 10,
        ..OpusConfig::default()
    };
    let mut rows = Vec::new();
    let mut row = |path: &str, decoded: &[f32]| {
        rows.push(InteropRow {
            engine: engine.name().to_owned(),
            path: path.to_owned(),
            signal: signal.to_owned(),
            quality: compare(pcm, decoded, ch, rate),
        })
    };
    let tag = format!("{}-{signal}", engine.name());

    // ours → ffmpeg (libopus) and opusdec
    let ours = dir.join(format!("ours-{tag}.opus"));
    write(&ours, &our_file(engine, &cfg, pcm)?)?;
    row("ondes → ffmpeg", &ffmpeg_decode(&ours, rate, channels)?);
    let wav = dir.join(format!("opusdec-{tag}.wav"));
    run("opusdec", &["--quiet", "--float", "--rate", "48000", path_str(&ours), path_str(&wav)])?;
    row("ondes → opusdec", &ffmpeg_decode(&wav, rate, channels)?);

    // ffmpeg -c:a libopus and opusenc → ours
    let raw = dir.join(format!("src-{tag}.f32"));
    let mut bytes = Vec::new();
    encode_f32le(pcm, &mut bytes);
    write(&raw, &bytes)?;
    let src_wav = dir.join(format!("src-{tag}.wav"));
    let (r, c) = (rate.to_string(), channels.to_string());
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-f",
            "f32le",
            "-ar",
            &r,
            "-ac",
            &c,
            "-i",
            path_str(&raw),
            "-c:a",
            "pcm_s16le",
            path_str(&src_wav),
        ],
    )?;
    let by_ffmpeg = dir.join(format!("ffmpeg-{tag}.opus"));
    let b = format!("{kbps}k");
    let application = if channels == 1 { "voip" } else { "audio" };
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-i",
            path_str(&src_wav),
            "-c:a",
            "libopus",
            "-b:a",
            &b,
            "-application",
            application,
            path_str(&by_ffmpeg),
        ],
    )?;
    let file =
        std::fs::read(&by_ffmpeg).map_err(|e| CodecBenchError::Io(by_ffmpeg.display().to_string(), e))?;
    row("ffmpeg → ondes", &ours_decode(engine, &file, rate)?);
    let by_opusenc = dir.join(format!("opusenc-{tag}.opus"));
    let kb = kbps.to_string();
    run("opusenc", &["--quiet", "--bitrate", &kb, path_str(&src_wav), path_str(&by_opusenc)])?;
    let file =
        std::fs::read(&by_opusenc).map_err(|e| CodecBenchError::Io(by_opusenc.display().to_string(), e))?;
    row("opusenc → ondes", &ours_decode(engine, &file, rate)?);
    Ok(rows)
}
