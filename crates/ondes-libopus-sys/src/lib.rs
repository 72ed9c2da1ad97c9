//! The raw C API of the bundled libopus 1.6.1: the few functions and `ctl` requests ondes uses.
//!
//! Declared by hand from `libopus/include/opus.h` and `opus_defines.h` (no bindgen: it would
//! need libclang on every build machine). The safe interface is `ondes_codec::opus`; nothing
//! else should call these.

#![no_std]
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_int};

/// An encoder's state (opaque; created and freed by libopus).
#[repr(C)]
pub struct OpusEncoder {
    _private: [u8; 0],
}

/// A decoder's state (opaque; created and freed by libopus).
#[repr(C)]
pub struct OpusDecoder {
    _private: [u8; 0],
}

pub type opus_int32 = i32;

pub const OPUS_OK: c_int = 0;
pub const OPUS_BAD_ARG: c_int = -1;
pub const OPUS_BUFFER_TOO_SMALL: c_int = -2;
pub const OPUS_INTERNAL_ERROR: c_int = -3;
pub const OPUS_INVALID_PACKET: c_int = -4;

pub const OPUS_APPLICATION_VOIP: c_int = 2048;
pub const OPUS_APPLICATION_AUDIO: c_int = 2049;
pub const OPUS_APPLICATION_RESTRICTED_LOWDELAY: c_int = 2051;

pub const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
pub const OPUS_SET_VBR_REQUEST: c_int = 4006;
pub const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;
pub const OPUS_SET_INBAND_FEC_REQUEST: c_int = 4012;
pub const OPUS_SET_PACKET_LOSS_PERC_REQUEST: c_int = 4014;
pub const OPUS_SET_DTX_REQUEST: c_int = 4016;
pub const OPUS_SET_VBR_CONSTRAINT_REQUEST: c_int = 4020;
pub const OPUS_GET_LOOKAHEAD_REQUEST: c_int = 4027;
pub const OPUS_RESET_STATE: c_int = 4028;
pub const OPUS_GET_IN_DTX_REQUEST: c_int = 4049;

unsafe extern "C" {
    pub fn opus_encoder_create(
        fs: opus_int32,
        channels: c_int,
        application: c_int,
        error: *mut c_int,
    ) -> *mut OpusEncoder;
    pub fn opus_encode_float(
        st: *mut OpusEncoder,
        pcm: *const f32,
        frame_size: c_int,
        data: *mut u8,
        max_data_bytes: opus_int32,
    ) -> opus_int32;
    pub fn opus_encoder_ctl(st: *mut OpusEncoder, request: c_int, ...) -> c_int;
    pub fn opus_encoder_destroy(st: *mut OpusEncoder);

    pub fn opus_decoder_create(fs: opus_int32, channels: c_int, error: *mut c_int) -> *mut OpusDecoder;
    pub fn opus_decode_float(
        st: *mut OpusDecoder,
        data: *const u8,
        len: opus_int32,
        pcm: *mut f32,
        frame_size: c_int,
        decode_fec: c_int,
    ) -> c_int;
    pub fn opus_decoder_ctl(st: *mut OpusDecoder, request: c_int, ...) -> c_int;
    pub fn opus_decoder_destroy(st: *mut OpusDecoder);

    pub fn opus_packet_get_nb_samples(packet: *const u8, len: opus_int32, fs: opus_int32) -> c_int;
    pub fn opus_strerror(error: c_int) -> *const c_char;
    pub fn opus_get_version_string() -> *const c_char;
}
