//! Arbitrary packets into the libopus engine's decoder (see `ondes_codec::opus::fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ondes_codec::opus::fuzz::decode_script(ondes_codec::opus::OpusEngine::Libopus, data);
});
