//! Encoding cost of a stream's Opus quality ladder: every active rung encodes every frame, so
//! the ladder's cost per 20 ms frame decides how many streams one core can carry.
//!
//! Input: 48 kHz stereo, 20 ms frames of a synthetic programme (tones gliding under an
//! envelope, noise bursts, silences), cycled over 2 s so the encoders see changing content.
//! Rungs are configured as the server's ladder does (`ondes-server/src/hub/ladder.rs`: VBR,
//! complexity 5, `voip` + in-band FEC at 5 % expected loss up to 32 kbit/s, `audio` above),
//! and the whole ladders are also measured at complexity 10 for comparison.
//!
//! Criterion times each case; a summary pass then prints, as a table and as JSON, the time per
//! frame, the fraction of one core it takes (time per frame / 20 ms) and the bitrate actually
//! produced.
//!
//! Every compiled Opus engine is measured (both with `--features opus-rs`):
//! `cargo bench -p ondes-codec --features opus-rs --bench ladder -- --warm-up-time 1 --measurement-time 3`
//! (`ondes bench codec` measures decoding, quality, loss recovery and DTX as well).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use ondes_codec::opus::{OpusApplication, OpusConfig, OpusEncoder, OpusEngine};

mod common;
use common::{CHANNELS, FRAME_SECS, RATE, programme};

const SPEECH: [u32; 3] = [16, 32, 64];
const MUSIC: [u32; 6] = [64, 96, 128, 192, 256, 320];

/// A rung configured as the server's ladder configures it.
fn rung(kbps: u32, complexity: u8) -> OpusConfig {
    let low = kbps <= 32;
    OpusConfig {
        sample_rate: RATE,
        channels: CHANNELS,
        frame_us: 20_000,
        bitrate_bps: kbps * 1000,
        vbr: true,
        complexity,
        fec: low,
        expected_loss_percent: if low { 5 } else { 0 },
        dtx: false,
        application: if low { OpusApplication::Voip } else { OpusApplication::Audio },
    }
}

/// Encoders for every rung of a ladder, encoding one frame each per call.
struct Ladder {
    encoders: Vec<OpusEncoder>,
    packet: Vec<u8>,
    bytes: usize,
}

impl Ladder {
    fn new(engine: OpusEngine, kbps: &[u32], complexity: u8) -> Ladder {
        let encoders = kbps
            .iter()
            .map(|&k| OpusEncoder::with_engine(rung(k, complexity), engine).expect("valid rung"))
            .collect();
        Ladder { encoders, packet: Vec::with_capacity(4000), bytes: 0 }
    }

    fn encode(&mut self, frame: &[f32]) {
        for enc in &mut self.encoders {
            self.packet.clear();
            self.bytes += enc.encode(black_box(frame), &mut self.packet).expect("encode");
        }
    }
}

struct Case {
    engine: OpusEngine,
    name: String,
    kbps: Vec<u32>,
    complexity: u8,
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for engine in OpusEngine::compiled() {
        for (name, ladder) in [("speech", &SPEECH[..]), ("music", &MUSIC[..])] {
            for complexity in [5, 10] {
                cases.push(Case {
                    engine,
                    name: format!("{engine} {name} ladder c{complexity}"),
                    kbps: ladder.to_vec(),
                    complexity,
                });
            }
        }
        for k in SPEECH.iter().chain(&MUSIC[1..]) {
            cases.push(Case {
                engine,
                name: format!("{engine} rung {k}k c5"),
                kbps: vec![*k],
                complexity: 5,
            });
        }
    }
    cases
}

fn bench(c: &mut Criterion, frames: &[Vec<f32>]) {
    let mut group = c.benchmark_group("opus_encode_48k_stereo_20ms_frame");
    for case in cases() {
        let mut ladder = Ladder::new(case.engine, &case.kbps, case.complexity);
        let mut i = 0;
        group.bench_function(BenchmarkId::from_parameter(&case.name), |b| {
            b.iter(|| {
                ladder.encode(&frames[i % frames.len()]);
                i += 1;
            })
        });
    }
    group.finish();
}

/// The summary pass: encodes `seconds` of audio per case (after one warm-up pass over the
/// programme) and reports the mean time per frame.
fn summary(frames: &[Vec<f32>], seconds: f64) {
    let n = (seconds / FRAME_SECS) as usize;
    let mut rows = Vec::new();
    for case in cases() {
        let mut ladder = Ladder::new(case.engine, &case.kbps, case.complexity);
        frames.iter().for_each(|f| ladder.encode(f));
        ladder.bytes = 0;
        let start = Instant::now();
        for i in 0..n {
            ladder.encode(&frames[i % frames.len()]);
        }
        let per_frame = start.elapsed() / n as u32;
        let kbps_out = ladder.bytes as f64 * 8.0 / (n as f64 * FRAME_SECS) / 1000.0;
        rows.push((case, per_frame, kbps_out));
    }
    println!("\nOpus encoding, 48 kHz stereo, 20 ms frames (one core = 20 ms of work per frame)");
    println!(
        "{:<30} {:>28} {:>12} {:>10} {:>14}",
        "case", "rungs (kbit/s)", "µs/frame", "% core", "kbit/s out"
    );
    let fraction = |d: Duration| d.as_secs_f64() / FRAME_SECS;
    for (case, per_frame, out) in &rows {
        let rungs = case.kbps.iter().map(u32::to_string).collect::<Vec<_>>().join("/");
        let us = per_frame.as_secs_f64() * 1e6;
        println!(
            "{:<30} {rungs:>28} {us:>12.1} {:>9.2}% {out:>14.1}",
            case.name,
            100.0 * fraction(*per_frame)
        );
    }
    let json: Vec<String> = rows
        .iter()
        .map(|(case, per_frame, out)| {
            format!(
                "{{\"case\":\"{}\",\"rungs_kbps\":{:?},\"complexity\":{},\"us_per_frame\":{:.1},\
                 \"core_fraction\":{:.4},\"kbps_out\":{:.1}}}",
                case.name,
                case.kbps,
                case.complexity,
                per_frame.as_secs_f64() * 1e6,
                fraction(*per_frame),
                out
            )
        })
        .collect();
    println!(
        "{{\"bench\":\"opus_ladder\",\"frame_ms\":20,\"rate\":48000,\"channels\":2,\"results\":[{}]}}",
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
