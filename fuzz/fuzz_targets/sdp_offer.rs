//! Arbitrary bytes into a parser of the server (see `ondes_server::fuzz::sdp_offer`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ondes_server::fuzz::sdp_offer(data);
});
