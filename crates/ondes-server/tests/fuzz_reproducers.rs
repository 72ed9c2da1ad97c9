//! Replays every input the fuzzers ever found a fault with in the server's own parsers
//! (`fuzz/reproducers/<target>/`), through the harnesses the fuzz targets run, so a fixed
//! fault stays fixed; and runs each harness on valid inputs, cut and corrupted at random, so
//! the harnesses and their promises are exercised by `cargo test`.

use std::path::PathBuf;

use ondes_server::fuzz;

/// A fuzz harness: one input in, a panic when a promise is broken.
type Harness = fn(&[u8]);

const TARGETS: [(&str, Harness); 7] = [
    ("config", fuzz::config),
    ("http_ingest", fuzz::http_ingest),
    ("icecast_source", fuzz::icecast_source),
    ("icecast_body", fuzz::icecast_body),
    ("sdp_offer", fuzz::sdp_offer),
    ("query", fuzz::query),
    ("auth", fuzz::auth),
];

fn reproducers(target: &str) -> Vec<PathBuf> {
    ondes_core::fuzz::reproducers(env!("CARGO_MANIFEST_DIR"), target)
}

fn rng() -> impl FnMut() -> u64 {
    ondes_core::fuzz::xorshift(0x2545_F491_4F6C_DD1D)
}

/// A real Ogg/Opus body: 48 kHz stereo, 20 frames of a tone.
fn ogg_opus() -> Vec<u8> {
    let cfg = ondes_codec::OpusConfig { sample_rate: 48_000, channels: 2, ..Default::default() };
    let mut enc = ondes_codec::OpusEncoder::new(cfg).unwrap();
    let mut mux = ondes_codec::OggOpusMuxer::new(7, 2, 48_000, 312).unwrap();
    let mut ogg = mux.headers();
    let pcm: Vec<f32> = (0..1920).map(|i| ((i / 2) as f32 * 0.05).sin() * 0.3).collect();
    let mut packet = Vec::new();
    for _ in 0..20 {
        packet.clear();
        enc.encode(&pcm, &mut packet).unwrap();
        ogg.extend(mux.push(&packet, 960));
    }
    ogg
}

/// A float WAV at the harness stream's layout, with NaN, infinite and over-range samples.
fn float_wav() -> Vec<u8> {
    let mut wav = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x03\0\x02\0\x80\xbb\0\0\0\xdc\x05\0\x08\0\x20\0data\xff\xff\xff\xff"
        .to_vec();
    for i in 0..4000 {
        let x = match i % 5 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => -7.5,
            _ => (i as f32 * 0.01).sin(),
        };
        wav.extend_from_slice(&x.to_le_bytes());
    }
    wav
}

fn with(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    [prefix, body].concat()
}

/// Valid inputs of each target, to cut and corrupt.
fn valid_inputs(target: &str) -> Vec<Vec<u8>> {
    match target {
        "config" => vec![
            b"[server]\nport = 9000\nring_secs = 30\n\n[[streams]]\nid = \"main\"\nsource = \"tone:440\"\nrungs_kbps = [32, 96]\n\0ONDES_SERVER_PORT=9100\n".to_vec(),
            b"[cluster]\nnats_url = \"nats://127.0.0.1:4222\"\nrole = \"edge\"\nnode_id = \"e1\"\n[webrtc]\nred_distances = [1, 2]\n".to_vec(),
        ],
        "http_ingest" => {
            let l16: Vec<u8> = (0..8000u32).map(|i| (i * 37 % 256) as u8).collect();
            vec![
                with(b"\x07audio/L16;rate=48000;channels=2\n", &l16),
                with(b"\x40audio/wav\n", &float_wav()),
                with(b"\x11audio/ogg\n", &ogg_opus()),
            ]
        }
        "icecast_source" => vec![
            with(b"\x05SOURCE /main ICE/1.0\r\nAuthorization: Basic c291cmNlOmhhY2ttZQ==\r\ncontent-type: audio/ogg\r\n\r\n", &ogg_opus()),
            with(b"\x40PUT /main HTTP/1.1\r\nExpect: 100-continue\r\nHost: h\r\n\r\n", b"ID3\x04\0\0\0\0\0\x10abcdefghij"),
            b"\x03GET /main.ogg HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
            b"\x09SOURCE /x HTTP/1.0\nContent-Length: 4\n\nOggS".to_vec(),
        ],
        "icecast_body" => vec![with(&[0x21], &ogg_opus()), with(&[0x02], b"ID3\x03\0\0\0\0\0\0\xff\xfb\x90\x64")],
        "sdp_offer" => vec![
            b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\n\
              c=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
              a=rtpmap:63 red/48000/2\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                .to_vec(),
        ],
        "query" => vec![
            b"rung=96&max_fps=10&format=lightweight&batch=4&last_seq=5&_HLS_msn=3&_HLS_part=1&_HLS_skip=YES&access_token=x"
                .to_vec(),
            b"quality=lossless&last_event_id=frame-18446744073709551615&ll=0".to_vec(),
        ],
        // a token signed with another secret; Basic `source:hackme`
        "auth" => vec![
            b"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1IiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJl\0Basic c291cmNlOmhhY2ttZQ=="
                .to_vec(),
        ],
        other => panic!("no valid input for {other}"),
    }
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
fn valid_inputs_cut_and_corrupted_run_clean() {
    let mut next = rng();
    for (target, harness) in TARGETS {
        // the icecast body decodes on a thread per input: fewer rounds
        let rounds = if target == "icecast_body" { 150 } else { 600 };
        for base in valid_inputs(target) {
            harness(&base);
            for _ in 0..rounds {
                let mut data = base[..(next() as usize % (base.len() + 1))].to_vec();
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
}

/// The promises the harnesses check hold for the inputs they were written for: a float WAV's
/// NaN and infinite samples arrive as finite ones (the harness would panic otherwise), and an
/// unframed Icecast source body comes out chunked, byte for byte.
#[test]
fn the_harnesses_check_what_they_promise() {
    fuzz::http_ingest(&with(b"\x40audio/wav\n", &float_wav()));
    fuzz::icecast_source(&valid_inputs("icecast_source")[0]);
    // a harness that checks nothing could not fail: a forged token is caught
    let forged = std::panic::catch_unwind(|| {
        let auth = ondes_server::auth::Authenticator::new(b"fuzzing secret");
        let token = auth.mint("x", &[ondes_server::auth::Permission::Subscribe], 3600, 4_000_000_000);
        fuzz::auth(token.as_bytes());
    });
    assert!(forged.is_err(), "the auth harness accepts a token that verifies");
}
