//! Arbitrary bytes into a parser of the server (see `ondes_server::fuzz::config`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ondes_server::fuzz::config(data);
});
