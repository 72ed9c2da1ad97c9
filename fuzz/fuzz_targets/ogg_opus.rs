//! Arbitrary bytes into a container parser of ondes-codec (see `ondes_codec::fuzz::ogg_opus`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ondes_codec::fuzz::ogg_opus(data);
});
