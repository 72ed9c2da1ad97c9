//! The test signals, made by the tools a listener's audio would come from: espeak-ng speech
//! and a sox-synthesised piece (plucked melody over a pad), decoded to `f32` by ffmpeg.

use std::path::{Path, PathBuf};
use std::process::Command;

use ondes_codec::{SampleFormat, decode_interleaved};

use super::CodecBenchError;

const TEXT: &str = "Streaming audio to many listeners, in real time, is harder than it looks. \
                    Every packet may be late or lost, and the listener must still hear the voice.";

/// Runs `tool` with `args`, failing with its stderr or an install hint.
pub fn run(tool: &'static str, args: &[&str]) -> Result<Vec<u8>, CodecBenchError> {
    let out = Command::new(tool).args(args).output().map_err(|e| CodecBenchError::Tool {
        tool,
        message: format!(
            "{e} (install the Debian package that provides it: ffmpeg, sox, espeak-ng or opus-tools)"
        ),
    })?;
    if !out.status.success() {
        return Err(CodecBenchError::Tool {
            tool,
            message: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out.stdout)
}

pub fn path_str(p: &Path) -> &str {
    // the scratch directory is made by us under the system temp dir
    p.to_str().unwrap_or("/dev/null")
}

/// Any audio file → interleaved f32 at `rate` / `channels`, through ffmpeg.
pub fn ffmpeg_decode(input: &Path, rate: u32, channels: u16) -> Result<Vec<f32>, CodecBenchError> {
    let (r, c) = (rate.to_string(), channels.to_string());
    let bytes = run(
        "ffmpeg",
        &["-hide_banner", "-v", "error", "-i", path_str(input), "-f", "f32le", "-ar", &r, "-ac", &c, "-"],
    )?;
    let mut pcm = Vec::new();
    decode_interleaved(&bytes, SampleFormat::F32Le, &mut pcm).map_err(|e| CodecBenchError::Tool {
        tool: "ffmpeg",
        message: format!("output is not whole f32 samples: {e}"),
    })?;
    Ok(pcm)
}

/// About 9 s of espeak-ng speech, mono, at `rate`.
pub fn speech(dir: &Path, rate: u32) -> Result<Vec<f32>, CodecBenchError> {
    let wav = dir.join("speech.wav");
    if !wav.exists() {
        run("espeak-ng", &["-w", path_str(&wav), TEXT])?;
    }
    ffmpeg_decode(&wav, rate, 1)
}

/// The speech with two 1.5 s pauses of digital silence in it (DTX's case).
pub fn speech_with_pauses(dir: &Path, rate: u32) -> Result<Vec<f32>, CodecBenchError> {
    let s = speech(dir, rate)?;
    let third = s.len() / 3;
    let pause = vec![0.0; rate as usize * 3 / 2];
    Ok([&s[..third], &pause, &s[third..2 * third], &pause, &s[2 * third..]].concat())
}

/// 6.4 s of stereo music-like audio at `rate`: a plucked-string melody on the left, a
/// sawtooth-and-sines pad with tremolo on the right, made by sox.
pub fn music(dir: &Path, rate: u32) -> Result<Vec<f32>, CodecBenchError> {
    let wav = dir.join("music.wav");
    if !wav.exists() {
        let mel = dir.join("melody.wav");
        let pad = dir.join("pad.wav");
        let mut args = vec!["-n", "-r", "48000", "-c", "1", "-b", "16", path_str(&mel)];
        let notes = ["C3", "E3", "G3", "C4", "A2", "E3", "A3", "C4"];
        for (i, note) in notes.iter().enumerate() {
            if i > 0 {
                args.push(":");
            }
            args.extend(["synth", "0.4", "pluck", note]);
        }
        args.extend(["gain", "-3"]);
        run("sox", &args)?;
        run(
            "sox",
            &[
                "-n",
                "-r",
                "48000",
                "-c",
                "3",
                "-b",
                "16",
                path_str(&pad),
                "synth",
                "3.2",
                "sawtooth",
                "C2",
                "sine",
                "E4",
                "sine",
                "G4",
                "remix",
                "-",
                "tremolo",
                "4",
                "30",
                "lowpass",
                "3000",
                "gain",
                "-9",
            ],
        )?;
        run("sox", &["-M", path_str(&mel), path_str(&pad), path_str(&wav), "repeat", "1"])?;
    }
    ffmpeg_decode(&wav, rate, 2)
}

/// A scratch directory for this run.
pub fn scratch() -> Result<PathBuf, CodecBenchError> {
    let dir = std::env::temp_dir().join(format!("ondes-bench-codec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| CodecBenchError::Io(dir.display().to_string(), e))?;
    Ok(dir)
}
