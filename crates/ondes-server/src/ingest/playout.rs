//! The playout task of a publish stream: one frame per period, by absolute deadlines.

use std::sync::Arc;
use std::time::Instant;

use ondes_core::playout::Pop;
use ondes_core::{Pacer, PacerPoll};
use tokio::sync::watch;

use super::Publisher;
use crate::clock::now_us;
use crate::hub::{SourceOpus, StreamHub};

/// Feeds `hub` from `publisher` at real time until `stop` becomes true or the stream ends
/// (e.g. it was removed from the registry). Silence fills the stream while nothing is queued,
/// so sequence numbers and listener timing never stop; the hub is told `source_lost` while no
/// publisher is connected and its queue is empty.
pub async fn run_playout(hub: Arc<StreamHub>, publisher: Arc<Publisher>, mut stop: watch::Receiver<bool>) {
    let mut control = hub.watch_control();
    let clock = Instant::now();
    let origin = tokio::time::Instant::from_std(clock);
    let mut pacer = Pacer::new(0, hub.spec.duration.as_us());
    let silence: Arc<[f32]> = vec![0.0; hub.spec.samples_per_frame()].into();
    hub.set_source_lost(true);
    loop {
        let now = clock.elapsed().as_micros() as u64;
        match pacer.poll(now) {
            PacerPoll::Wait { until_us } => {
                tokio::select! {
                    _ = tokio::time::sleep_until(origin + std::time::Duration::from_micros(until_us)) => {}
                    _ = stop.changed() => return,
                    r = control.changed() => if r.is_err() { return },
                }
            }
            PacerPoll::Due { .. } => {
                if *stop.borrow() || hub.is_ended() {
                    return;
                }
                // a frame the publisher did not deliver in time is, for a rung carrying its
                // packets, a lost packet: the listeners conceal it
                let (samples, opus) = match publisher.pop() {
                    Pop::Frame(f) => {
                        hub.set_source_lost(false);
                        (f.pcm.into(), f.opus)
                    }
                    Pop::Underrun | Pop::Missing => (silence.clone(), SourceOpus::Lost),
                    Pop::Idle => {
                        hub.set_source_lost(true);
                        (silence.clone(), SourceOpus::None)
                    }
                };
                hub.push_with_opus(samples, now_us(), &opus);
            }
        }
    }
}
