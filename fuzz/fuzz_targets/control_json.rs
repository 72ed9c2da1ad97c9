//! Arbitrary bytes into a parser of ondes-core (see `ondes_core::fuzz::control_json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ondes_core::fuzz::control_json(data);
});
