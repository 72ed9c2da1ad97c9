//! Arbitrary bytes into a parser of the server (see `ondes_server::fuzz::icecast_source`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ondes_server::fuzz::icecast_source(data);
});
