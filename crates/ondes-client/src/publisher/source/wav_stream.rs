//! The incremental WAV reader now lives in `ondes-codec` (the server's `say` reads engines'
//! WAV output with it too); re-exported here for the sources that used it from this path.

pub use ondes_codec::wav_stream::{WavError, WavFormat, WavStream};
