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

use super::{Fill, PcmSource, SourceError};
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
                    return end_source(&hub, None);
                }
                match fill_frame(source.as_mut(), spf, None, capture_timer.as_ref()) {
                    Ok((buf, fill)) => {
                        last_frame = fill == Fill::End;
                        if buf.len() == spf {
                            next = Some(buf);
                        }
                        continue;
                    }
                    Err(e) => return end_source(&hub, Some(e)),
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
                        match fill_frame(source.as_mut(), spf, Some(capture_us), capture_timer.as_ref()) {
                            Ok((buf, fill)) => {
                                if buf.len() == spf {
                                    hub.push(buf.into(), capture_us);
                                }
                                if fill == Fill::End {
                                    return end_source(&hub, None);
                                }
                            }
                            Err(e) => return end_source(&hub, Some(e)),
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

/// One frame from the source, its time recorded as the capture stage: decoded ahead
/// (`at_us` none), or made for the capture time `at_us` (a wall-clocked source).
fn fill_frame(
    source: &mut dyn PcmSource,
    spf: usize,
    at_us: Option<i64>,
    timer: Option<&crate::metrics::StageHandle>,
) -> Result<(Vec<f32>, Fill), SourceError> {
    let mut buf = Vec::with_capacity(spf);
    let t0 = Instant::now();
    let filled = match at_us {
        Some(at) => source.fill_at(&mut buf, spf, at),
        None => source.fill(&mut buf, spf),
    };
    if let Some(t) = timer {
        t.record(t0.elapsed());
    }
    filled.map(|fill| (buf, fill))
}

/// Ends the stream because its source is done: at the end of its input, or failed.
fn end_source(hub: &StreamHub, failure: Option<SourceError>) {
    match failure {
        None => {
            tracing::info!(stream = %hub.id, "source reached the end of its input");
            hub.end("the source reached the end of its input");
        }
        Some(e) => {
            tracing::error!(stream = %hub.id, error = %e, "source failed");
            hub.end(format!("the source failed: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubRead;
    use crate::source::marker::{MarkerSource, MarkerSpec};
    use ondes_core::{FrameDuration, FrameSpec};

    /// The marker's bursts sit where the published capture timestamps say: the runner fills
    /// it at the deadline with the very timestamp the frame is pushed with.
    #[test]
    fn a_wall_clocked_source_is_placed_from_the_published_timestamp() {
        let spec = FrameSpec::new(48_000, 1, FrameDuration::DEFAULT).unwrap();
        let hub = StreamHub::new("marker", spec, 2, 2000, &[]);
        let marker = MarkerSpec { period_ms: 100, burst_ms: 5, ..MarkerSpec::default() };
        let source = Box::new(MarkerSource::new(marker, 48_000, 1));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = spawn_source(hub.clone(), source, stop.clone(), None).unwrap();
        std::thread::sleep(Duration::from_millis(450));
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();

        let (mut cursor, _) = hub.cursor_resume(0);
        let mut out = Vec::new();
        hub.read(&mut cursor, 1000, &mut out);
        let frames: Vec<_> = out
            .iter()
            .filter_map(|r| if let HubRead::Frame(f) = r { Some(f.clone()) } else { None })
            .collect();
        assert!(frames.len() >= 15, "{} frames", frames.len());
        let (mut loud, mut onsets) = (0, 0);
        for f in &frames {
            let n = f.frame.samples.len() as i128;
            for (i, s) in f.frame.samples.iter().enumerate() {
                if s.abs() <= 1e-6 {
                    continue;
                }
                // the sample's wall time in ns × 48 000, as the marker computes it
                let t = f.frame.capture_us as i128 * 1000 * 48_000 - (n - i as i128) * 1_000_000_000;
                let into_period = t.rem_euclid(100_000_000 * 48_000);
                assert!(
                    into_period < 5_000_000 * 48_000,
                    "frame {}: a loud sample {into_period} into its period",
                    f.frame.seq
                );
                // the burst's first sample: at most one sample period after the boundary
                if into_period <= 1_000_000_000 {
                    onsets += 1;
                }
                loud += 1;
            }
        }
        assert!(onsets >= 3 && loud >= 3 * 200, "{onsets} onsets, {loud} loud samples");
    }
}
