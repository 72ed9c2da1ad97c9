//! Replays every input the fuzzers ever found a fault with (`fuzz/reproducers/<target>/`),
//! through the same harness the fuzz targets run, so a fixed fault stays fixed. Also runs a
//! few thousand random scripts per engine, so the harness itself is exercised by `cargo test`.

use std::path::PathBuf;

use ondes_codec::opus::OpusEngine;
use ondes_codec::opus::fuzz::decode_script;

/// The engine each Opus fuzz target drives.
const TARGETS: [(&str, OpusEngine); 2] =
    [("opus_decode_libopus", OpusEngine::Libopus), ("opus_decode_opus_rs", OpusEngine::OpusRs)];

/// The container parsers' targets and their harnesses.
/// A fuzz harness: one input in, a panic when a promise is broken.
type Harness = fn(&[u8]);

const PARSERS: [(&str, Harness); 3] = [
    ("ogg_demux", ondes_codec::fuzz::ogg_demux),
    ("ogg_opus", ondes_codec::fuzz::ogg_opus),
    ("wav", ondes_codec::fuzz::wav),
];

/// ondes-core's parser targets, replayed by that crate's own test of the same name.
const CORE_PARSERS: [&str; 4] = ["cluster_wire", "control_json", "sse", "wire_audio"];
/// The server's parser targets (replayed by ondes-server's `fuzz_reproducers` test).
const SERVER_PARSERS: [&str; 7] =
    ["auth", "config", "http_ingest", "icecast_body", "icecast_source", "query", "sdp_offer"];

/// A small xorshift generator: random inputs, the same on every run.
fn rng() -> impl FnMut() -> u64 {
    ondes_core::fuzz::xorshift(0x0123_4567_89AB_CDEF)
}

fn reproducers(target: &str) -> Vec<PathBuf> {
    ondes_core::fuzz::reproducers(env!("CARGO_MANIFEST_DIR"), target)
}

#[test]
fn every_fuzz_target_has_an_engine_and_a_reproducer_directory() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry").path().file_stem().expect("a file name").to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    let mut known: Vec<String> = TARGETS
        .iter()
        .map(|(t, _)| *t)
        .chain(PARSERS.iter().map(|(t, _)| *t))
        .chain(CORE_PARSERS)
        .chain(SERVER_PARSERS)
        .map(str::to_owned)
        .collect();
    known.sort();
    assert_eq!(names, known, "fuzz/fuzz_targets and the lists here name the same targets");
    for target in &known {
        reproducers(target); // panics when the directory is missing
    }
}

#[test]
fn every_checked_in_reproducer_runs_clean() {
    let mut replayed = 0;
    for (target, engine) in TARGETS {
        for file in reproducers(target) {
            let data = std::fs::read(&file).expect("read reproducer");
            if engine.is_compiled() {
                decode_script(engine, &data);
                replayed += 1;
            }
        }
    }
    for (target, harness) in PARSERS {
        for file in reproducers(target) {
            harness(&std::fs::read(&file).expect("read reproducer"));
            replayed += 1;
        }
    }
    println!("{replayed} reproducers replayed");
}

#[test]
fn random_scripts_run_clean_on_every_compiled_engine() {
    let mut next = rng();
    for engine in OpusEngine::compiled() {
        for _ in 0..2000 {
            let len = (next() % 600) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            decode_script(engine, &data);
        }
    }
}

#[test]
fn random_and_truncated_containers_parse_clean() {
    let mut next = rng();
    // a real Ogg/Opus stream and a real WAV, cut and corrupted at random places
    let cfg = ondes_codec::OpusConfig { sample_rate: 48_000, channels: 1, ..Default::default() };
    let mut enc = ondes_codec::OpusEncoder::new(cfg).unwrap();
    let mut mux = ondes_codec::OggOpusMuxer::new(7, 1, 48_000, 312).unwrap();
    let mut ogg = mux.headers();
    let pcm: Vec<f32> = (0..960).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let mut packet = Vec::new();
    for _ in 0..20 {
        packet.clear();
        enc.encode(&pcm, &mut packet).unwrap();
        ogg.extend(mux.push(&packet, 960));
    }
    let mut wav = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x01\0\x01\0\x80\xbb\0\0\0\x77\x01\0\x02\0\x10\0data\xff\xff\xff\xff".to_vec();
    wav.extend((0..4000).map(|i| (i % 251) as u8));
    for (target, harness) in PARSERS {
        for _ in 0..300 {
            let base = if target == "wav" { &wav } else { &ogg };
            let mut data = vec![next() as u8];
            data.extend_from_slice(&base[..(next() as usize % base.len())]);
            for _ in 0..(next() % 4) {
                let i = next() as usize % data.len();
                data[i] = next() as u8;
            }
            harness(&data);
            let noise: Vec<u8> = (0..next() % 500).map(|_| next() as u8).collect();
            harness(&noise);
        }
    }
}
