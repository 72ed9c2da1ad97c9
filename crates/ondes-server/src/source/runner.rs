//! Runs a pull source on its own thread, paced by absolute deadlines.
//!
//! Decoding happens ahead of the deadline (the next frame is ready before it is due), so
//! the frame is published within scheduler precision of its deadline and the decoder's
//! own timing never shows up as jitter. A wall-clocked source (the marker) is the exception:
//! its frame is made at the deadline, from the timestamp it is published with, so that what
//! it plays is exactly where that timestamp says.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ondes_core::{Pacer, PacerPoll};

use super::{Fill, PcmSource};
use crate::clock::now_us;
use crate::hub::StreamHub;

/// Starts `source` feeding `hub` at real time until it ends, `stop` is set or the stream
/// ends (e.g. it was removed from the registry).
pub fn spawn_source(
    hub: Arc<StreamHub>,
    mut source: Box<dyn PcmSource>,
    stop: Arc<AtomicBool>,
    capture_timer: Option<crate::metrics::StageHandle>,
) -> std::io::Result<JoinHandle<()>> {
    hub.set_source_description(source.describe());
    std::thread::Builder::new().name(format!("source-{}", hub.id)).spawn(move || {
        let spf = hub.spec.samples_per_frame();
        let clock = Instant::now();
        let mut pacer = Pacer::new(0, hub.spec.duration.as_us());
        let mut next: Option<Vec<f32>> = None;
        let mut last_frame = false;
        let mut reanchors = 0;
        let wall_clocked = source.wall_clocked();
        while !stop.load(Ordering::Relaxed) && !hub.is_ended() {
            if next.is_none() && !wall_clocked {
                if last_frame {
                    tracing::info!(stream = %hub.id, "source reached the end of its input");
                    hub.end("the source reached the end of its input");
                    return;
                }
                let mut buf = Vec::with_capacity(spf);
                let t0 = Instant::now();
                let filled = source.fill(&mut buf, spf);
                if let Some(t) = &capture_timer {
                    t.record(t0.elapsed());
                }
                match filled {
                    Ok(fill) => {
                        last_frame = fill == Fill::End;
                        if buf.len() == spf {
                            next = Some(buf);
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(stream = %hub.id, error = %e, "source failed");
                        hub.end(format!("the source failed: {e}"));
                        return;
                    }
                }
            }
            let now = clock.elapsed().as_micros() as u64;
            match pacer.poll(now) {
                PacerPoll::Wait { until_us } => {
                    // wake at least every 50 ms to notice `stop`
                    std::thread::sleep(Duration::from_micros((until_us - now).min(50_000)));
                }
                PacerPoll::Due { .. } => {
                    if wall_clocked {
                        let capture_us = now_us();
                        let mut buf = Vec::with_capacity(spf);
                        let t0 = Instant::now();
                        let filled = source.fill_at(&mut buf, spf, capture_us);
                        if let Some(t) = &capture_timer {
                            t.record(t0.elapsed());
                        }
                        match filled {
                            Ok(fill) => {
                                if buf.len() == spf {
                                    hub.push(buf.into(), capture_us);
                                }
                                if fill == Fill::End {
                                    tracing::info!(stream = %hub.id, "source reached the end of its input");
                                    hub.end("the source reached the end of its input");
                                    return;
                                }
                            }
                            Err(e) => {
                                tracing::error!(stream = %hub.id, error = %e, "source failed");
                                hub.end(format!("the source failed: {e}"));
                                return;
                            }
                        }
                    } else if let Some(samples) = next.take() {
                        hub.push(samples.into(), now_us());
                    }
                    if pacer.reanchors() != reanchors {
                        reanchors = pacer.reanchors();
                        hub.stats.source_late.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(stream = %hub.id, "source fell more than 1 s behind real time; re-anchored");
                    }
                }
            }
        }
    })
}
