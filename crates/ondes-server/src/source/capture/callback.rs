//! The device's real-time callback: never allocates, never locks, never waits.
//!
//! Everything it needs is made before the stream starts: the two single-producer rings
//! (samples as `f32`, and one [`Period`] record per callback) and a handle to the runner
//! thread to wake. Per callback it reads two clocks (vDSO, no syscall), converts the period
//! into the sample ring, pushes its record and unparks the runner (an atomic swap and, only if
//! the runner sleeps, one futex wake). When either ring lacks room the whole period is dropped
//! and its length carried in the next record that gets through, so the runner can account
//! the loss exactly; nothing blocks the device.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

use cpal::{FromSample, InputCallbackInfo, SizedSample};
use rtrb::Producer;

use crate::clock::now_us;

/// One callback's worth of samples, as the runner sees it.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    /// Samples per channel in this period.
    pub frames: u32,
    /// Wall time (µs since the epoch) at the callback: when the period's last sample became
    /// available. (The delay a device reports is not subtracted: ALSA's PulseAudio plugin
    /// reports delays that swing by 100 ms as PulseAudio tunes its latency, while the
    /// callbacks themselves stay regular; the device clock's lower envelope removes the
    /// scheduler's jitter.)
    pub captured_us: i64,
    /// Monotonic time at the callback's entry (for the callback → hub latency).
    pub at: Instant,
    /// Samples per channel dropped before this period because the rings were full.
    pub dropped_before: u64,
}

/// What the callbacks tell the runner besides samples: atomics only.
#[derive(Debug, Default)]
pub struct Signals {
    /// Overruns the device reported.
    pub xruns: AtomicU64,
    /// Set by the error callback when the device is gone or the stream broke
    /// ([`FAULT_NONE`] otherwise).
    pub fault: AtomicU8,
    /// Whether the callback thread got real-time scheduling: 0 not yet asked, 1 yes, 2 refused.
    pub realtime: AtomicU8,
}

pub const FAULT_NONE: u8 = 0;
pub const FAULT_DEVICE_GONE: u8 = 1;
pub const FAULT_STREAM_BROKEN: u8 = 2;

/// The producer side of the rings, owned by the callback.
pub struct CallbackRings {
    pub samples: Producer<f32>,
    pub periods: Producer<Period>,
    pub channels: usize,
    pub runner: std::thread::Thread,
}

/// The data callback for a device delivering samples of type `T`.
pub fn data_callback<T>(
    mut rings: CallbackRings,
    signals: Arc<Signals>,
) -> impl FnMut(&[T], &InputCallbackInfo) + Send + 'static
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let mut dropped: u64 = 0;
    let mut promoted = false;
    move |data: &[T], _info: &InputCallbackInfo| {
        let at = Instant::now();
        if !promoted {
            // once, on the device's own thread: one syscall, no allocation
            promoted = true;
            let ok = super::priority::promote_current_thread(super::priority::CALLBACK_PRIORITY).is_ok();
            signals.realtime.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
        }
        let wall = now_us();
        let frames = (data.len() / rings.channels) as u64;
        let n = frames as usize * rings.channels;
        if rings.samples.slots() >= n && rings.periods.slots() >= 1 {
            if let Ok(chunk) = rings.samples.write_chunk_uninit(n) {
                chunk.fill_from_iter(data[..n].iter().map(|s| s.to_sample::<f32>()));
                let period = Period { frames: frames as u32, captured_us: wall, at, dropped_before: dropped };
                // room was checked above and this is the only producer
                let _ = rings.periods.push(period);
                dropped = 0;
            } else {
                dropped += frames;
            }
        } else {
            dropped += frames;
        }
        rings.runner.unpark();
    }
}

/// The error callback: counts overruns, flags a lost device. Atomics only.
pub fn error_callback(
    signals: Arc<Signals>,
    runner: std::thread::Thread,
) -> impl FnMut(cpal::Error) + Send + 'static {
    move |e: cpal::Error| {
        match e.kind() {
            cpal::ErrorKind::Xrun => {
                signals.xruns.fetch_add(1, Ordering::Relaxed);
            }
            cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::DeviceChanged => {
                signals.fault.store(FAULT_DEVICE_GONE, Ordering::Release);
            }
            cpal::ErrorKind::StreamInvalidated => {
                signals.fault.store(FAULT_STREAM_BROKEN, Ordering::Release);
            }
            // transient backend errors: the stream goes on; the watchdog notices if it does not
            _ => {}
        }
        runner.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpal::{InputStreamTimestamp, StreamInstant};
    use rtrb::RingBuffer;

    fn info() -> InputCallbackInfo {
        let t = StreamInstant::new(1, 0);
        InputCallbackInfo::new(InputStreamTimestamp { callback: t, capture: t })
    }

    /// The reader stalls: the callback fills the rings, then drops whole periods without
    /// waiting, and the first period that gets through again carries the exact count.
    #[test]
    fn a_stalled_reader_costs_whole_counted_periods_never_a_wait() {
        let (sp, mut sc) = RingBuffer::<f32>::new(4 * 96 * 2);
        let (pp, mut pc) = RingBuffer::<Period>::new(16);
        let signals = Arc::new(Signals::default());
        let rings = CallbackRings { samples: sp, periods: pp, channels: 2, runner: std::thread::current() };
        let mut cb = data_callback::<i16>(rings, signals.clone());
        let period: Vec<i16> = (0..96 * 2).map(|i| i as i16 * 100).collect();
        for _ in 0..10 {
            cb(&period, &info()); // room for 4 periods; 6 are dropped
        }
        assert_eq!(pc.slots(), 4);
        let first = pc.pop().unwrap();
        assert_eq!((first.frames, first.dropped_before), (96, 0));
        // converted to f32 in the ring
        let chunk = sc.read_chunk(4 * 96 * 2).unwrap();
        assert!((chunk.as_slices().0[1] - 100.0 / 32768.0).abs() < 1e-6);
        chunk.commit_all();
        while pc.pop().is_ok() {}
        // the reader is back: the next period says what was lost before it
        cb(&period, &info());
        let p = pc.pop().unwrap();
        assert_eq!(p.dropped_before, 6 * 96);
        cb(&period, &info());
        assert_eq!(pc.pop().unwrap().dropped_before, 0);
        assert_ne!(
            signals.realtime.load(Ordering::Relaxed),
            0,
            "the callback asked for real-time scheduling"
        );
    }
}
