//! Arbitrary bytes into a parser of the server (see `ondes_server::fuzz::http_ingest`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ondes_server::fuzz::http_ingest(data);
});
