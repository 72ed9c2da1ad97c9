//! The built-in operations, their default thresholds, and what an operation may be called.
//!
//! The built-ins are always registered first and in this order, so their [`OpId`]s are
//! constants ([`DefaultOp::id`]): a hot path can record `DefaultOp::Fanout.id()` without a
//! name lookup. Their thresholds can be overridden; they cannot be removed.

use super::OpId;

/// Longest operation name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// The operations every monitor knows from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefaultOp {
    // ondes' own pipeline, per frame (default frames are 20 ms)
    Capture,
    Decode,
    Resample,
    Encode,
    Fanout,
    Send,
    Receive,
    Playout,
    // voice-AI stages around ondes, reported as spans by the application
    SttProcessing,
    AudioChunk,
    NetworkRequest,
    TtsSynthesis,
    TtsChunk,
    AudioConversion,
    LlmResponse,
    LlmApiCall,
    CacheLookup,
    EndToEnd,
    VoiceToVoice,
}

impl DefaultOp {
    pub const ALL: [DefaultOp; 19] = [
        DefaultOp::Capture,
        DefaultOp::Decode,
        DefaultOp::Resample,
        DefaultOp::Encode,
        DefaultOp::Fanout,
        DefaultOp::Send,
        DefaultOp::Receive,
        DefaultOp::Playout,
        DefaultOp::SttProcessing,
        DefaultOp::AudioChunk,
        DefaultOp::NetworkRequest,
        DefaultOp::TtsSynthesis,
        DefaultOp::TtsChunk,
        DefaultOp::AudioConversion,
        DefaultOp::LlmResponse,
        DefaultOp::LlmApiCall,
        DefaultOp::CacheLookup,
        DefaultOp::EndToEnd,
        DefaultOp::VoiceToVoice,
    ];

    /// The id this operation has in every [`super::PerfMonitor`].
    pub const fn id(self) -> OpId {
        OpId(self as u32)
    }

    pub const fn name(self) -> &'static str {
        match self {
            DefaultOp::Capture => "capture",
            DefaultOp::Decode => "decode",
            DefaultOp::Resample => "resample",
            DefaultOp::Encode => "encode",
            DefaultOp::Fanout => "fanout",
            DefaultOp::Send => "send",
            DefaultOp::Receive => "receive",
            DefaultOp::Playout => "playout",
            DefaultOp::SttProcessing => "stt_processing",
            DefaultOp::AudioChunk => "audio_chunk",
            DefaultOp::NetworkRequest => "network_request",
            DefaultOp::TtsSynthesis => "tts_synthesis",
            DefaultOp::TtsChunk => "tts_chunk",
            DefaultOp::AudioConversion => "audio_conversion",
            DefaultOp::LlmResponse => "llm_response",
            DefaultOp::LlmApiCall => "llm_api_call",
            DefaultOp::CacheLookup => "cache_lookup",
            DefaultOp::EndToEnd => "end_to_end",
            DefaultOp::VoiceToVoice => "voice_to_voice",
        }
    }

    /// Default threshold in µs.
    ///
    /// ondes' stages are budgeted against one 20 ms frame: a per-frame stage that takes a
    /// whole frame period (capture, send) is at its limit, because the next frame is
    /// already due; CPU stages (decode, encode, fan-out) get half a frame, resampling a
    /// quarter. `receive` (capture → arrival at the client) and `playout` (arrival →
    /// played) are latencies rather than work: 100 ms each keeps mouth-to-ear under the
    /// ~250 ms at which conversation starts to feel laggy. The voice-AI values are the
    /// ones the issue specifies.
    pub const fn default_threshold_us(self) -> u64 {
        const MS: u64 = 1_000;
        match self {
            DefaultOp::Capture => 20 * MS,
            DefaultOp::Decode => 10 * MS,
            DefaultOp::Resample => 5 * MS,
            DefaultOp::Encode => 10 * MS,
            DefaultOp::Fanout => 10 * MS,
            DefaultOp::Send => 20 * MS,
            DefaultOp::Receive => 100 * MS,
            DefaultOp::Playout => 100 * MS,
            DefaultOp::SttProcessing => 2_000 * MS,
            DefaultOp::AudioChunk => 100 * MS,
            DefaultOp::NetworkRequest => 1_000 * MS,
            DefaultOp::TtsSynthesis => 500 * MS,
            DefaultOp::TtsChunk => 200 * MS,
            DefaultOp::AudioConversion => 100 * MS,
            DefaultOp::LlmResponse => 4_000 * MS,
            DefaultOp::LlmApiCall => 3_000 * MS,
            DefaultOp::CacheLookup => 50 * MS,
            DefaultOp::EndToEnd => 6_000 * MS,
            DefaultOp::VoiceToVoice => 5_000 * MS,
        }
    }

    pub fn from_name(name: &str) -> Option<DefaultOp> {
        DefaultOp::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// Checks an operation name: 1 to 64 characters from `a-z 0-9 _ . -`.
///
/// Names become JSON keys, log fields and Prometheus label values, and they come from
/// clients (spans): a small alphabet keeps all of those safe without escaping. Returns
/// why the name is refused.
pub fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("must be at most 64 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err("must use only a-z, 0-9, '_', '.' and '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positions_and_names_round_trip() {
        for (i, op) in DefaultOp::ALL.into_iter().enumerate() {
            assert_eq!(op.id(), OpId(i as u32));
            assert_eq!(DefaultOp::from_name(op.name()), Some(op));
            assert!(validate_name(op.name()).is_ok());
        }
        assert_eq!(DefaultOp::TtsSynthesis.default_threshold_us(), 500_000);
        assert_eq!(DefaultOp::LlmResponse.default_threshold_us(), 4_000_000);
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("rag.retrieval-v2_x").is_ok());
        assert!(validate_name(&"a".repeat(64)).is_ok());
        assert!(validate_name(&"a".repeat(65)).is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("TTS").is_err());
        assert!(validate_name("tts synthesis").is_err());
        assert!(validate_name("tts\"x").is_err());
    }
}
