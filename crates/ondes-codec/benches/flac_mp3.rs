//! Encoding cost of a stream's FLAC (lossless) and MP3 rungs: each runs once per frame while
//! someone listens, whatever the number of listeners, so its cost per 20 ms frame says how
//! many streams one core can carry with that rung on.
//!
//! Input: the codec benches' programme (48 kHz stereo, 20 ms frames, see `common`). The
//! encoders are set up as the server's rungs set them up (`ondes-server/src/hub/codec_rungs.rs`):
//! FLAC 16-bit with flacenc's default settings, one FLAC frame per stream frame; MP3 with LAME
//! at constant bitrate, `-q 5`, joint stereo.
//!
//! Criterion times each case; a summary pass then prints, as a table and as JSON, the time per
//! frame, the share of one core it takes (time per frame / 20 ms) and the bitrate produced:
//! `cargo bench -p ondes-codec --bench flac_mp3 -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion};
use ondes_codec::{FlacEncoder, FlacFormat, Mp3Encoder};

mod common;
use common::{CHANNELS, FRAME, FRAME_SECS, RATE, programme};

enum Rung {
    Flac(FlacEncoder),
    Mp3(Mp3Encoder),
}

struct Case {
    name: &'static str,
    rung: Rung,
    out: Vec<u8>,
    bytes: usize,
    seq: u64,
}

impl Case {
    fn encode(&mut self, frame: &[f32]) {
        self.out.clear();
        self.bytes += match &mut self.rung {
            Rung::Flac(e) => e.encode(black_box(frame), self.seq, &mut self.out),
            Rung::Mp3(e) => e.encode(black_box(frame), &mut self.out),
        }
        .expect("encode");
        self.seq += 1;
    }
}

fn cases() -> Vec<Case> {
    let flac = FlacFormat::new(RATE, CHANNELS, FRAME as u32).expect("FLAC layout");
    let mp3 = |k| Rung::Mp3(Mp3Encoder::new(RATE, CHANNELS, k).expect("MP3 rung"));
    [
        ("flac 16-bit", Rung::Flac(FlacEncoder::new(flac).expect("FLAC encoder"))),
        ("mp3 128k", mp3(128)),
        ("mp3 192k", mp3(192)),
        ("mp3 320k", mp3(320)),
    ]
    .into_iter()
    .map(|(name, rung)| Case { name, rung, out: Vec::with_capacity(16_384), bytes: 0, seq: 0 })
    .collect()
}

fn bench(c: &mut Criterion, frames: &[Vec<f32>]) {
    let mut group = c.benchmark_group("flac_mp3_encode_48k_stereo_20ms_frame");
    for mut case in cases() {
        let mut i = 0;
        group.bench_function(BenchmarkId::from_parameter(case.name), |b| {
            b.iter(|| {
                case.encode(&frames[i % frames.len()]);
                i += 1;
            })
        });
    }
    group.finish();
}

/// Encodes `seconds` of audio per case after one warm-up pass; reports the mean per frame.
fn summary(frames: &[Vec<f32>], seconds: f64) {
    let n = (seconds / FRAME_SECS) as usize;
    println!("\nFLAC and MP3 rungs, 48 kHz stereo, 20 ms frames (one core = 20 ms of work per frame)");
    println!("{:<14} {:>10} {:>9} {:>12}", "rung", "µs/frame", "% core", "kbit/s out");
    let mut json = Vec::new();
    for mut case in cases() {
        frames.iter().for_each(|f| case.encode(f));
        case.bytes = 0;
        let start = Instant::now();
        for i in 0..n {
            case.encode(&frames[i % frames.len()]);
        }
        let per_frame = start.elapsed().as_secs_f64() / n as f64;
        let kbps = case.bytes as f64 * 8.0 / (n as f64 * FRAME_SECS) / 1000.0;
        let core = per_frame / FRAME_SECS;
        println!("{:<14} {:>10.1} {:>8.2}% {kbps:>12.1}", case.name, per_frame * 1e6, 100.0 * core);
        json.push(format!(
            "{{\"rung\":\"{}\",\"us_per_frame\":{:.1},\"core_fraction\":{core:.4},\"kbps_out\":{kbps:.1}}}",
            case.name,
            per_frame * 1e6
        ));
    }
    println!(
        "{{\"bench\":\"flac_mp3_rungs\",\"frame_ms\":20,\"rate\":48000,\"channels\":2,\"results\":[{}]}}",
        json.join(",")
    );
}

fn main() {
    let frames = programme();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &frames);
    c.final_summary();
    // `cargo test --benches` runs each benchmark once as a smoke test: keep the summary short.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    summary(&frames, if quick { 0.2 } else { 4.0 });
}
