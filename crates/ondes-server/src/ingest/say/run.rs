//! One utterance's synthesis task: start the engine, read its output as it comes, cut it
//! into frames of the stream's layout and hand them to the stream's [`SpeechDesk`], never
//! more than `max_buffered_secs` ahead of playback. It stops when the utterance is cut.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::config::EngineConfig;
use super::decode::SpeechDecoder;
use super::desk::{SayPhase, SpeechDesk, UtteranceTiming};
use super::engine;
use crate::clock::now_us;
use crate::hub::StreamHub;

/// What to synthesise.
pub struct Job {
    pub hub: Arc<StreamHub>,
    pub timing: Arc<UtteranceTiming>,
    pub engine: EngineConfig,
    pub text: String,
    pub voice: Option<String>,
    pub max_buffered_frames: usize,
}

/// Runs the job to its end; failures go to the desk (and so to the waiting request).
pub async fn run(job: Job) {
    let desk: &SpeechDesk = &job.hub.speech;
    let id = job.timing.id;
    if let Err(message) = synthesise(&job).await {
        tracing::warn!(stream = %job.hub.id, utterance = id, engine = %job.engine.name, "say: {message}");
        desk.fail(id, &message);
    }
}

/// `Ok` also when the utterance was cut (nothing more to do).
async fn synthesise(job: &Job) -> Result<(), String> {
    let desk = &job.hub.speech;
    let id = job.timing.id;
    let mut out =
        engine::start(&job.engine, &job.text, job.voice.as_deref()).await.map_err(|e| e.to_string())?;
    let raw = job.engine.rate.map(|r| (r, job.engine.channels.unwrap_or(1)));
    let mut decoder = SpeechDecoder::new(raw, job.hub.spec);
    let mut frames = 0u64;
    let give = |frame: Vec<f32>, frames: &mut u64| -> bool {
        if *frames == 0 {
            job.timing.first_pcm_us.store(now_us(), Ordering::Relaxed);
        }
        *frames += 1;
        let alive = desk.push_frame(id, frame.into());
        if *frames == 1 && alive {
            job.timing.set_phase(SayPhase::FirstPcm);
        }
        alive
    };
    while let Some(chunk) = out.next_chunk().await.map_err(|e| e.to_string())? {
        decoder.feed(&chunk).map_err(|e| e.to_string())?;
        while let Some(f) = decoder.pop() {
            if !give(f, &mut frames) {
                return Ok(()); // cut: dropping the engine stops it
            }
        }
        // stay at most max_buffered ahead of playback
        while desk.buffered_frames(id) > job.max_buffered_frames {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if desk.position(id).is_none() {
                return Ok(());
            }
        }
    }
    for f in decoder.finish() {
        if !give(f, &mut frames) {
            return Ok(());
        }
    }
    if frames == 0 {
        return Err(format!("engine '{}' produced no audio", job.engine.name));
    }
    desk.complete(id);
    Ok(())
}
