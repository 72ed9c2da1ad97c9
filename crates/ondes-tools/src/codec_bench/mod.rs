//! `ondes bench codec`: the Opus engines side by side on the same inputs.
//!
//! For each compiled engine (libopus, opus-rs): CPU per frame of the speech and music ladders
//! at complexity 5 and 10; quality of every rung against its source (SNR, correlation,
//! log-spectral distance) on espeak-ng speech and sox music; recovery of 5, 10, 20 and 30 %
//! seeded random loss with in-band FEC; DTX savings on speech with pauses; every frame
//! duration mono and stereo; interop both ways with ffmpeg (libopus), opusenc and opusdec.
//! Needs espeak-ng, sox, ffmpeg and opus-tools (`scripts/test.sh` installs them).

mod codec;
mod cpu;
mod dtx;
mod frames;
mod interop;
mod loss;
mod metrics;
mod quality;
mod signals;
mod table;

use ondes_codec::CodecError;
use ondes_codec::opus::{FRAME_US, OpusEngine};
use serde::Serialize;

pub use table::render_table;

/// What can stop the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum CodecBenchError {
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("a signal encoded to no packet")]
    Empty,
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct CodecBenchOptions {
    /// CPU time spent timing each ladder, per direction, seconds.
    pub cpu_seconds: f64,
    /// Seed of the loss patterns.
    pub seed: u64,
}

/// Everything measured, per engine.
#[derive(Debug, Clone, Serialize)]
pub struct CodecBenchReport {
    pub engines: Vec<String>,
    pub cpu: Vec<cpu::CpuRow>,
    pub quality: Vec<quality::RungQuality>,
    pub loss: Vec<loss::LossRow>,
    pub dtx: Vec<dtx::DtxRow>,
    pub frames: Vec<frames::FrameRow>,
    pub interop: Vec<interop::InteropRow>,
}

/// Runs every measurement for every compiled engine; `progress` hears what runs.
pub fn run_codec_bench(
    opts: &CodecBenchOptions,
    mut progress: impl FnMut(&str),
) -> Result<CodecBenchReport, CodecBenchError> {
    let dir = signals::scratch()?;
    let rate = 48_000;
    progress("making the signals (espeak-ng, sox)");
    let speech = signals::speech(&dir, rate)?;
    let speech_pauses = signals::speech_with_pauses(&dir, rate)?;
    let music = signals::music(&dir, rate)?;
    let engines = OpusEngine::compiled();
    let mut report = CodecBenchReport {
        engines: engines.iter().map(|e| e.name().to_owned()).collect(),
        cpu: Vec::new(),
        quality: Vec::new(),
        loss: Vec::new(),
        dtx: Vec::new(),
        frames: Vec::new(),
        interop: Vec::new(),
    };
    for &engine in &engines {
        progress(&format!("{engine}: CPU"));
        for complexity in [5, 10] {
            report.cpu.push(cpu::measure(
                engine,
                "speech",
                &codec::SPEECH,
                complexity,
                &speech,
                rate,
                1,
                opts.cpu_seconds,
            )?);
            report.cpu.push(cpu::measure(
                engine,
                "music",
                &codec::MUSIC,
                complexity,
                &music,
                rate,
                2,
                opts.cpu_seconds,
            )?);
        }
        progress(&format!("{engine}: quality per rung"));
        for complexity in [5, 10] {
            for &k in &codec::SPEECH {
                report.quality.push(quality::measure(engine, "speech", &speech, rate, 1, k, complexity)?);
            }
            for &k in &codec::MUSIC {
                report.quality.push(quality::measure(engine, "music", &music, rate, 2, k, complexity)?);
            }
        }
        progress(&format!("{engine}: loss recovery"));
        for percent in [5, 10, 20, 30] {
            report.loss.push(loss::measure(engine, &speech, rate, 32, percent, opts.seed)?);
        }
        progress(&format!("{engine}: DTX"));
        for k in [16, 32] {
            report.dtx.push(dtx::measure(engine, &speech_pauses, rate, k)?);
        }
        progress(&format!("{engine}: frame durations"));
        for channels in [1, 2] {
            for frame_us in FRAME_US {
                report.frames.push(frames::measure(engine, &music, rate, channels, frame_us)?);
            }
        }
        progress(&format!("{engine}: interop"));
        report.interop.extend(interop::measure(engine, &dir, "speech", &speech, 1)?);
        report.interop.extend(interop::measure(engine, &dir, "music", &music, 2)?);
    }
    // the scratch files are only inputs and outputs of this run
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}
