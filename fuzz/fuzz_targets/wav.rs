//! Arbitrary bytes into a container parser of ondes-codec (see `ondes_codec::fuzz::wav`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ondes_codec::fuzz::wav(data);
});
