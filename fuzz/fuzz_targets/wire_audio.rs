//! Arbitrary bytes into a parser of ondes-core (see `ondes_core::fuzz::wire_audio`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ondes_core::fuzz::wire_audio(data);
});
