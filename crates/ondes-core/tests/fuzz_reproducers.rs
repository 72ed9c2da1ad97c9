//! Replays every input the fuzzers ever found a fault with in ondes-core's parsers
//! (`fuzz/reproducers/<target>/`), through the same harnesses the fuzz targets run, so a
//! fixed fault stays fixed; and runs each harness on random and mangled valid inputs, so the
//! harnesses themselves are exercised by `cargo test`.

use std::path::PathBuf;

use ondes_core::cluster_wire::{self, GroupHeader, PcmFormat, WireFrame};
use ondes_core::fuzz;
use ondes_core::proto::audio::{AudioHeader, Codec, encode_audio};

/// A fuzz harness: one input in, a panic when a promise is broken.
type Harness = fn(&[u8]);

const TARGETS: [(&str, Harness); 4] = [
    ("wire_audio", fuzz::wire_audio),
    ("control_json", fuzz::control_json),
    ("cluster_wire", fuzz::cluster_wire),
    ("sse", fuzz::sse),
];

fn reproducers(target: &str) -> Vec<PathBuf> {
    ondes_core::fuzz::reproducers(env!("CARGO_MANIFEST_DIR"), target)
}

/// A valid input of each target, to mangle.
fn valid_inputs() -> [Vec<u8>; 4] {
    let mut audio = Vec::new();
    let header = AudioHeader {
        codec: Codec::Pcm16,
        channels: 2,
        frame_count: 2,
        frame_us: 20_000,
        sample_rate: 48_000,
        first_seq: 41,
        capture_us: 1_700_000_000_000_000,
    };
    encode_audio(&header, &[&[0u8; 64], &[1u8; 64]], &mut audio).unwrap();
    let mut group = Vec::new();
    let gh = GroupHeader {
        pcm: PcmFormat::S16,
        channels: 1,
        sample_rate: 8_000,
        frame_us: 20_000,
        epoch: 9,
        first_seq: 100,
        rungs_kbps: vec![16, 32],
    };
    let pcm = vec![7u8; gh.frame_samples() * 2];
    let frame =
        WireFrame { capture_us: 5, packets: vec![(0, &[0xF8, 1, 2][..]), (1, &[0xF8, 3][..])], pcm: &pcm };
    cluster_wire::encode(&gh, &[frame], &mut group).unwrap();
    [
        audio,
        br#"{"type":"report","buffer_ms":120.5,"target_ms":100,"underruns":2}"#.to_vec(),
        group,
        b"\x05id: frame-1\nevent: status\ndata: {\"status\":\"paused\"}\n\n:comment\ndata: a\ndata: b\n\n"
            .to_vec(),
    ]
}

#[test]
fn every_checked_in_reproducer_runs_clean() {
    for (target, harness) in TARGETS {
        for file in reproducers(target) {
            harness(&std::fs::read(&file).expect("read reproducer"));
        }
    }
}

#[test]
fn random_and_mangled_inputs_run_clean() {
    let mut next = fuzz::xorshift(0x9E37_79B9_7F4A_7C15);
    for ((_, harness), base) in TARGETS.iter().zip(valid_inputs()) {
        harness(&base);
        for _ in 0..2000 {
            let mut data: Vec<u8> = base[..(next() as usize % (base.len() + 1))].to_vec();
            for _ in 0..(next() % 4) {
                if !data.is_empty() {
                    let j = next() as usize % data.len();
                    data[j] = next() as u8;
                }
            }
            harness(&data);
            let noise: Vec<u8> = (0..next() % 300).map(|_| next() as u8).collect();
            harness(&noise);
        }
    }
}
