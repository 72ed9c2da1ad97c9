//! The libopus engine: safe owners of libopus's encoder and decoder states.
//!
//! libopus needs no workaround: it switches to CELT for frames under 10 ms, has DTX, lowers the
//! bandwidth itself when in-band FEC does not fit the bitrate, and rate-controls every mode.
//! The unsafe code is confined to these two files: each state is created by libopus, used only
//! through `&mut self` and freed once in `Drop`.

mod decoder;
mod encoder;

pub(crate) use decoder::Decoder;
pub(crate) use encoder::Encoder;

use ondes_libopus_sys as ffi;

/// libopus's error codes (`opus_defines.h`) in words; `opus_strerror`'s strings are not
/// `'static` in Rust's eyes.
fn reason(code: i32) -> &'static str {
    match code {
        ffi::OPUS_BAD_ARG => "libopus: invalid argument",
        ffi::OPUS_BUFFER_TOO_SMALL => "libopus: buffer too small",
        ffi::OPUS_INTERNAL_ERROR => "libopus: internal error",
        ffi::OPUS_INVALID_PACKET => "libopus: corrupted or invalid packet",
        -5 => "libopus: request not implemented",
        -6 => "libopus: invalid state",
        -7 => "libopus: memory allocation failed",
        _ => "libopus: unknown error",
    }
}
