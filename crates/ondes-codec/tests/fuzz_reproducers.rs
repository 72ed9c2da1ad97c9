//! Replays every input the fuzzers ever found a fault with (`fuzz/reproducers/<target>/`),
//! through the same harness the fuzz targets run, so a fixed fault stays fixed. Also runs a
//! few thousand random scripts per engine, so the harness itself is exercised by `cargo test`.

use std::path::PathBuf;

use ondes_codec::opus::OpusEngine;
use ondes_codec::opus::fuzz::decode_script;

/// The engine each fuzz target drives.
const TARGETS: [(&str, OpusEngine); 2] =
    [("opus_decode_libopus", OpusEngine::Libopus), ("opus_decode_opus_rs", OpusEngine::OpusRs)];

fn reproducers(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/reproducers").join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_none_or(|x| x != "md"))
        .collect();
    files.sort();
    files
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
    let mut known: Vec<String> = TARGETS.iter().map(|(t, _)| (*t).to_owned()).collect();
    known.sort();
    assert_eq!(names, known, "fuzz/fuzz_targets and TARGETS list the same targets");
    for (target, _) in TARGETS {
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
    println!("{replayed} reproducers replayed");
}

#[test]
fn random_scripts_run_clean_on_every_compiled_engine() {
    let mut x = 0x0123_4567_89AB_CDEFu64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for engine in OpusEngine::compiled() {
        for _ in 0..2000 {
            let len = (next() % 600) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            decode_script(engine, &data);
        }
    }
}
