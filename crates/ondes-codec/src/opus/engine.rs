//! [`OpusEngine`]: which Opus implementation codes the audio.
//!
//! ondes has two, behind one interface ([`OpusEncoder`](super::OpusEncoder),
//! [`OpusDecoder`](super::OpusDecoder)), each compiled in by a cargo feature of `ondes-codec`:
//!
//! - `libopus` (default): the reference implementation (1.6.1) every browser and WebRTC stack
//!   uses, built from the sources bundled in `ondes-libopus-sys` with a C compiler only.
//! - `opus-rs`: the pure-Rust port `opus-rs`, with the workarounds its defects need.
//!
//! The default engine is libopus whenever it is compiled in: it recovers more of a lossy
//! stream, codes better at speech bitrates and costs less CPU (docs/opus.md has the
//! measurements). A build with only `opus-rs` uses that everywhere.

use std::fmt;
use std::str::FromStr;

use crate::CodecError;

/// An Opus implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpusEngine {
    /// libopus 1.6.1 through `ondes-libopus-sys` (cargo feature `libopus`, on by default).
    Libopus,
    /// The pure-Rust `opus-rs` crate (cargo feature `opus-rs`).
    OpusRs,
}

#[cfg(not(any(feature = "libopus", feature = "opus-rs")))]
compile_error!("ondes-codec needs an Opus engine: enable the feature `libopus` (default) or `opus-rs`");

impl OpusEngine {
    /// The engine [`OpusEncoder::new`](super::OpusEncoder::new) and
    /// [`OpusDecoder::new`](super::OpusDecoder::new) use: libopus when compiled in.
    pub const DEFAULT: OpusEngine =
        if cfg!(feature = "libopus") { OpusEngine::Libopus } else { OpusEngine::OpusRs };

    /// Every engine, compiled in or not.
    pub const ALL: [OpusEngine; 2] = [OpusEngine::Libopus, OpusEngine::OpusRs];

    /// The engines this build contains, the default first.
    pub fn compiled() -> Vec<OpusEngine> {
        let mut v: Vec<OpusEngine> = Self::ALL.into_iter().filter(|e| e.is_compiled()).collect();
        v.sort_by_key(|e| *e != Self::DEFAULT);
        v
    }

    /// Whether this build contains the engine.
    pub fn is_compiled(self) -> bool {
        match self {
            OpusEngine::Libopus => cfg!(feature = "libopus"),
            OpusEngine::OpusRs => cfg!(feature = "opus-rs"),
        }
    }

    /// The name used in configs, logs and benchmark tables (also the cargo feature's name).
    pub fn name(self) -> &'static str {
        match self {
            OpusEngine::Libopus => "libopus",
            OpusEngine::OpusRs => "opus-rs",
        }
    }

    /// An error unless the engine is compiled in, saying how to get it.
    pub(crate) fn check_compiled(self) -> Result<(), CodecError> {
        if self.is_compiled() {
            Ok(())
        } else {
            Err(CodecError::InvalidParameter(format!(
                "the Opus engine `{}` is not in this build; rebuild with `--features ondes-codec/{}`",
                self.name(),
                self.name()
            )))
        }
    }
}

impl Default for OpusEngine {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for OpusEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OpusEngine {
    type Err = CodecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "libopus" => Ok(OpusEngine::Libopus),
            "opus-rs" | "opus_rs" => Ok(OpusEngine::OpusRs),
            other => {
                Err(CodecError::InvalidParameter(format!("Opus engine `{other}` (valid: libopus, opus-rs)")))
            }
        }
    }
}
