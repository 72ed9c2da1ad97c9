//! Text to speech into a stream (`POST /api/streams/{id}/say`, see docs/say.md).
//!
//! A request queues an utterance on the stream's [`SpeechDesk`] and starts its synthesis
//! task ([`run`]); the engine's output is decoded as it arrives ([`decode`]) and pushed to
//! the desk frame by frame; the stream's producer asks the desk, at every frame period,
//! whether to publish speech instead of the source's own audio. Listeners are told
//! `utterance-start`/`utterance-end` with the frames, and the first listener that writes an
//! utterance's first frame records its time to first audio (`tts_first_audio`).

pub mod config;
pub mod decode;
pub mod desk;
pub mod engine;
pub mod run;

pub use config::{EngineConfig, TtsSection};
pub use desk::{SayPhase, SpeechDesk, SpeechMark, UtteranceTiming};

/// The stages of `tts_first_audio` (`total` is request arrival → first frame written):
/// `synthesis` arrival → first frame of PCM ready, `queue` → its frame in the stream (its
/// turn and the next frame period), `hub` → read by the listener's session, `transport` →
/// written to the listener's socket.
pub const FIRST_AUDIO_STAGES: [&str; 5] = ["total", "synthesis", "queue", "hub", "transport"];
