//! The capture source's thread: device periods in, timed frames out.
//!
//! While the device delivers, the runner sleeps until the callback wakes it, reads the
//! periods the callback queued, times them with the [`DeviceClock`] (whose gaps it fills with
//! silence, counts as the source stage's dropped frames and reports to listeners as a `gap`
//! status), converts rate and channels to the stream's, and pushes every frame as soon as
//! its last sample arrived.
//!
//! When the device goes away (the error callback says so, or no period arrives for a
//! while), the runner drops the device, marks the stream `source-lost` and keeps it going
//! with silence paced by the wall clock, so listeners keep their timing; every `retry_ms` it
//! looks the device up again and reopens it, then marks the stream `source-restored`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use ondes_codec::{StreamResampler, remix};
use ondes_core::device_clock::{DeviceClock, DeviceClockConfig};
use ondes_core::{FrameSpec, Pacer, PacerPoll};
use rtrb::{Consumer, RingBuffer};

use super::callback::{
    CallbackRings, FAULT_DEVICE_GONE, FAULT_NONE, Period, Signals, data_callback, error_callback,
};
use super::status::CaptureState;
use super::{CaptureError, CaptureStatus, device};
use crate::clock::now_us;
use crate::hub::StreamHub;
use crate::metrics::StageHandle;
use crate::source::spec::CaptureSpec;

/// A capture source checked at start-up (the device exists and supports the format), not
/// yet running: [`spawn_capture`] opens the device on its own thread.
pub struct CaptureSource {
    spec: CaptureSpec,
    frame: FrameSpec,
    rate: u32,
    channels: u16,
    period_frames: u32,
    status: Arc<CaptureStatus>,
}

impl CaptureSource {
    /// Looks the device up and checks that it can record the format now, so that a wrong
    /// name or format fails at start naming the device and what exists.
    pub fn open(spec: &CaptureSpec, frame: &FrameSpec) -> Result<Self, CaptureError> {
        let rate = spec.rate.unwrap_or(frame.sample_rate);
        let channels = spec.channels.unwrap_or(frame.channels);
        let period_frames = ((rate as f64 * spec.period_ms / 1000.0).round() as u32).max(16);
        let chosen = device::choose(&device::host(), &spec.device, channels, rate, period_frames)?;
        let status = Arc::new(CaptureStatus::new(&spec.device));
        status.update(|s| {
            s.sample_format = chosen.format.to_string();
            s.device_rate = rate;
            s.device_channels = channels;
            s.period_frames = period_frames;
        });
        Ok(CaptureSource { spec: spec.clone(), frame: *frame, rate, channels, period_frames, status })
    }

    pub fn status(&self) -> Arc<CaptureStatus> {
        self.status.clone()
    }

    pub fn describe(&self) -> String {
        format!(
            "capture {} ({} ch, {} Hz, {} ms periods)",
            self.spec.device, self.channels, self.rate, self.spec.period_ms
        )
    }
}

/// The device while it delivers.
struct Live {
    _stream: cpal::Stream,
    samples: Consumer<f32>,
    periods: Consumer<Period>,
    signals: Arc<Signals>,
    xruns_seen: u64,
    last_period: Instant,
    /// Whether a period has arrived yet.
    started: bool,
    /// When the runner last looked: a runner that was itself stopped (the process was
    /// suspended, the machine starved it) cannot tell how long the device was quiet.
    last_check: Instant,
    realtime_logged: bool,
}

/// Starts the capture of `source` into `hub` until `stop` is set or the stream ends.
pub fn spawn_capture(
    hub: Arc<StreamHub>,
    source: CaptureSource,
    stop: Arc<AtomicBool>,
    timer: Option<StageHandle>,
) -> std::io::Result<JoinHandle<()>> {
    hub.set_source_description(source.describe());
    std::thread::Builder::new().name(format!("capture-{}", hub.id)).spawn(move || {
        let mut runner = Runner::new(hub, source, timer);
        runner.run(&stop);
    })
}

struct Runner {
    hub: Arc<StreamHub>,
    src: CaptureSource,
    timer: Option<StageHandle>,
    clock: DeviceClock,
    resampler: Option<StreamResampler>,
    /// Stream-layout samples waiting to fill a frame.
    pending: Vec<f32>,
    period_buf: Vec<f32>,
    remixed: Vec<f32>,
    resampled: Vec<f32>,
    samples_per_frame: usize,
    live: Option<Live>,
    next_retry: Instant,
    /// Paces silence while the device is lost (µs since `lost_origin`).
    lost_pacer: Option<(Pacer, Instant)>,
    dropped_frames: u64,
    queue_dropped: u64,
    lost_frames: u64,
    lost_events: u64,
    restored_events: u64,
}

impl Runner {
    fn new(hub: Arc<StreamHub>, src: CaptureSource, timer: Option<StageHandle>) -> Self {
        let buffer = (2 * src.period_frames as u64).max(src.rate as u64 / 20);
        let resampler = (src.rate != src.frame.sample_rate)
            .then(|| StreamResampler::new(src.rate, src.frame.sample_rate, src.frame.channels as usize).ok())
            .flatten();
        Runner {
            samples_per_frame: src.frame.samples_per_frame(),
            clock: DeviceClock::new(DeviceClockConfig::new(src.rate, buffer)),
            hub,
            src,
            timer,
            resampler,
            pending: Vec::new(),
            period_buf: Vec::new(),
            remixed: Vec::new(),
            resampled: Vec::new(),
            live: None,
            next_retry: Instant::now(),
            lost_pacer: None,
            dropped_frames: 0,
            queue_dropped: 0,
            lost_frames: 0,
            lost_events: 0,
            restored_events: 0,
        }
    }

    fn run(&mut self, stop: &AtomicBool) {
        if let Err(e) = super::priority::promote_current_thread(super::priority::RUNNER_PRIORITY) {
            tracing::info!(stream = %self.hub.id, errno = e,
                "the capture runner runs without real-time scheduling (not permitted): expect more jitter");
        }
        match self.open() {
            Ok(l) => {
                self.live = Some(l);
                self.src.status.update(|s| s.state = CaptureState::Running);
            }
            Err(e) => self.lose(&e.to_string()),
        }
        while !stop.load(Ordering::Relaxed) && !self.hub.is_ended() {
            if self.live.is_some() {
                std::thread::park_timeout(Duration::from_millis(50));
                self.drain();
                self.check_device();
            } else {
                self.play_silence();
                if Instant::now() >= self.next_retry {
                    self.retry();
                }
            }
        }
    }

    /// Opens the device's stream with a fresh pair of rings.
    fn open(&mut self) -> Result<Live, CaptureError> {
        let spec = &self.src.spec;
        let chosen = device::choose(
            &device::host(),
            &spec.device,
            self.src.channels,
            self.src.rate,
            self.src.period_frames,
        )?;
        let channels = self.src.channels as usize;
        let queue_frames = (self.src.rate as u64 * spec.queue_ms / 1000) as usize;
        let (sp, sc) =
            RingBuffer::<f32>::new(queue_frames.max(self.src.period_frames as usize * 2) * channels);
        let period_slots = (queue_frames / self.src.period_frames.max(1) as usize).max(4) * 2;
        let (pp, pc) = RingBuffer::<Period>::new(period_slots);
        let signals = Arc::new(Signals::default());
        let runner = std::thread::current();
        let rings = CallbackRings { samples: sp, periods: pp, channels, runner: runner.clone() };
        let err = error_callback(signals.clone(), runner);
        let signals_cb = signals.clone();
        let open_err =
            |e: cpal::Error| CaptureError::Open { device: spec.device.clone(), message: e.to_string() };
        let d = &chosen.device;
        let c = chosen.config;
        let stream = match chosen.format {
            SampleFormat::F32 => build::<f32>(d, c, rings, signals_cb, err),
            SampleFormat::I32 => build::<i32>(d, c, rings, signals_cb, err),
            SampleFormat::I16 => build::<i16>(d, c, rings, signals_cb, err),
            SampleFormat::U16 => build::<u16>(d, c, rings, signals_cb, err),
            _ => build::<f64>(d, c, rings, signals_cb, err),
        }
        .map_err(open_err)?;
        stream.play().map_err(open_err)?;
        let period = stream.buffer_size().unwrap_or(self.src.period_frames);
        self.src.status.update(|s| {
            s.sample_format = chosen.format.to_string();
            s.period_frames = period;
            s.buffer_frames = self.clock.config().buffer_frames as u32;
        });
        tracing::info!(stream = %self.hub.id, device = %spec.device, format = %chosen.format,
            period_frames = period, "capture device opened");
        Ok(Live {
            _stream: stream,
            samples: sc,
            periods: pc,
            signals,
            xruns_seen: 0,
            last_period: Instant::now(),
            started: false,
            realtime_logged: false,
            last_check: Instant::now(),
        })
    }

    /// Reads every queued period and pushes the frames they complete.
    fn drain(&mut self) {
        let channels = self.src.channels as usize;
        loop {
            let Some(live) = self.live.as_mut() else { return };
            let Ok(period) = live.periods.pop() else { break };
            let n = period.frames as usize * channels;
            self.period_buf.clear();
            match live.samples.read_chunk(n) {
                Ok(chunk) => {
                    let (a, b) = chunk.as_slices();
                    self.period_buf.extend_from_slice(a);
                    self.period_buf.extend_from_slice(b);
                    chunk.commit_all();
                }
                // the callback pushes the samples before the record: they are there
                Err(_) => self.period_buf.resize(n, 0.0),
            }
            live.last_period = Instant::now();
            live.started = true;
            if !live.realtime_logged && live.signals.realtime.load(Ordering::Relaxed) == 2 {
                live.realtime_logged = true;
                tracing::info!(stream = %self.hub.id, "the capture callback runs without real-time scheduling (not permitted): expect more jitter");
            }
            let x = live.signals.xruns.load(Ordering::Relaxed);
            while live.xruns_seen < x {
                live.xruns_seen += 1;
                self.clock.handle_xrun();
            }
            if period.dropped_before > 0 {
                self.queue_dropped += period.dropped_before;
                let lost = self.clock.handle_dropped(period.dropped_before);
                self.insert_gap(lost);
            }
            let timing = self.clock.handle_period(period.frames as u64, period.captured_us);
            if timing.gap_before > 0 {
                self.insert_gap(timing.gap_before);
            }
            self.add_period(period);
        }
        self.publish_status();
    }

    /// Silence for `device_samples` lost samples: counted, reported, pushed.
    fn insert_gap(&mut self, device_samples: u64) {
        let out_channels = self.src.frame.channels as usize;
        let stream_samples = (device_samples as f64 * self.src.frame.sample_rate as f64
            / self.src.rate as f64)
            .round() as usize;
        let spc = self.samples_per_frame / out_channels;
        let frames = stream_samples.div_ceil(spc.max(1)) as u64;
        let from_frame = self.hub.next_seq() + (self.pending.len() / self.samples_per_frame) as u64;
        self.dropped_frames += frames;
        // the figures first, so whoever reads the notice and asks for them sees the gap counted
        self.publish_status();
        self.hub.report_source_gap(from_frame, frames);
        tracing::warn!(stream = %self.hub.id, lost_samples = device_samples, frames,
            "capture overrun: audio lost at the source, filled with silence");
        // the silence goes through the same path as samples, so frames stay whole
        self.pending.resize(self.pending.len() + stream_samples * out_channels, 0.0);
        self.flush_frames(None);
    }

    /// Converts a period to the stream's layout and pushes the frames it completes.
    fn add_period(&mut self, period: Period) {
        let out_channels = self.src.frame.channels as usize;
        self.remixed.clear();
        remix(&self.period_buf, self.src.channels as usize, out_channels, &mut self.remixed);
        match self.resampler.as_mut() {
            Some(rs) => {
                rs.push(&self.remixed);
                self.resampled.clear();
                let avail = rs.available();
                rs.pop_up_to(avail, &mut self.resampled);
                self.pending.extend_from_slice(&self.resampled);
            }
            None => self.pending.extend_from_slice(&self.remixed),
        }
        self.flush_frames(Some(period));
    }

    /// Pushes every whole frame in `pending`. Timestamps come from the device clock: the
    /// model's time of the latest period's end, minus the audio still after each frame.
    fn flush_frames(&mut self, period: Option<Period>) {
        let spf = self.samples_per_frame;
        if self.pending.len() < spf {
            return;
        }
        let out_channels = self.src.frame.channels as f64;
        let rate = self.src.frame.sample_rate as f64;
        let end_ts = self.clock.timestamp_of(self.clock.next_sample());
        let buffered = self.resampler.as_ref().map(|r| r.available()).unwrap_or(0) as f64;
        let mut start = 0;
        while self.pending.len() - start >= spf {
            let after = (self.pending.len() - start) as f64 / out_channels + buffered;
            let ts = end_ts - (after * 1e6 / rate).round() as i64;
            let samples: Arc<[f32]> = self.pending[start..start + spf].into();
            self.hub.push(samples, ts);
            start += spf;
        }
        self.pending.drain(..start);
        if let Some(p) = period {
            let elapsed = p.at.elapsed();
            self.src.status.record_latency_us(elapsed.as_micros().min(u32::MAX as u128) as u32);
            if let Some(t) = &self.timer {
                t.record(elapsed);
            }
        }
    }

    /// Goes `source-lost` when the device said it is gone, or has been silent too long.
    fn check_device(&mut self) {
        let Some(live) = self.live.as_mut() else { return };
        if live.last_check.elapsed() > Duration::from_millis(250) {
            live.last_period = Instant::now();
        }
        live.last_check = Instant::now();
        let fault = live.signals.fault.load(Ordering::Acquire);
        let quiet = live.last_period.elapsed();
        let period = Duration::from_secs_f64(self.src.period_frames as f64 / self.src.rate as f64);
        // a device may take a moment to deliver its first period (PulseAudio's does)
        let watchdog =
            if live.started { (period * 20).max(Duration::from_secs(1)) } else { Duration::from_secs(3) };
        let reason = if fault == FAULT_DEVICE_GONE {
            "the device went away".to_string()
        } else if fault != FAULT_NONE {
            "the device's stream broke".to_string()
        } else if quiet > watchdog {
            format!("the device delivered nothing for {} ms", quiet.as_millis())
        } else {
            return;
        };
        self.lose(&reason);
    }

    fn lose(&mut self, reason: &str) {
        if let Some(live) = self.live.take() {
            // closing a device that vanished can block inside the driver (ALSA's PulseAudio
            // plugin waits for its dead server): close it on a thread of its own, so the
            // stream keeps going whatever the driver does
            let closer = std::thread::Builder::new()
                .name(format!("capture-close-{}", self.hub.id))
                .spawn(move || drop(live));
            if let Err(e) = closer {
                tracing::warn!(stream = %self.hub.id, error = %e, "cannot start a thread to close the lost device");
            }
        }
        // the samples captured before the loss are audio: pad the partial frame and send it
        if !self.pending.is_empty() {
            let spf = self.samples_per_frame;
            let len = self.pending.len().div_ceil(spf) * spf;
            self.pending.resize(len, 0.0);
            self.flush_frames(None);
        }
        if let Some(rs) = self.resampler.as_mut() {
            rs.reset();
        }
        self.lost_events += 1;
        self.hub.set_source_lost(true);
        self.lost_pacer = Some((Pacer::new(0, self.src.frame.duration.as_us()), Instant::now()));
        self.next_retry = Instant::now() + Duration::from_millis(self.src.spec.retry_ms);
        tracing::warn!(stream = %self.hub.id, device = %self.src.spec.device, reason,
            retry_ms = self.src.spec.retry_ms, "capture device lost; playing silence until it is back");
        self.src.status.update(|s| {
            s.state = CaptureState::Lost;
            s.last_error = Some(reason.to_string());
        });
        self.publish_status();
    }

    /// While the device is lost: silence frames at real time (wall-clock timestamps).
    fn play_silence(&mut self) {
        let Some((pacer, origin)) = self.lost_pacer.as_mut() else { return };
        let now = origin.elapsed().as_micros() as u64;
        match pacer.poll(now) {
            PacerPoll::Wait { until_us } => {
                let retry_in = self.next_retry.saturating_duration_since(Instant::now());
                let wait = Duration::from_micros(until_us - now).min(retry_in).min(Duration::from_millis(50));
                std::thread::sleep(wait);
            }
            PacerPoll::Due { .. } => {
                self.hub.push(vec![0.0; self.samples_per_frame].into(), now_us());
                self.lost_frames += 1;
            }
        }
    }

    fn retry(&mut self) {
        match self.open() {
            Ok(live) => {
                self.live = Some(live);
                self.lost_pacer = None;
                self.clock.restart();
                self.restored_events += 1;
                self.hub.set_source_lost(false);
                tracing::info!(stream = %self.hub.id, device = %self.src.spec.device, "capture device is back");
                self.src.status.update(|s| s.state = CaptureState::Running);
            }
            Err(e) => {
                self.next_retry = Instant::now() + Duration::from_millis(self.src.spec.retry_ms);
                tracing::debug!(stream = %self.hub.id, error = %e, "capture device still unavailable");
                self.src.status.update(|s| s.last_error = Some(e.to_string()));
            }
        }
        self.publish_status();
    }

    fn publish_status(&self) {
        let c = self.clock.stats();
        self.src.status.update(|s| {
            s.drift_ppm = c.drift_ppm;
            s.clock_offset_us = c.offset_us;
            s.xruns = c.xruns;
            s.gaps = c.gaps;
            s.gap_samples = c.gap_samples;
            s.queue_dropped_samples = self.queue_dropped;
            s.dropped_frames = self.dropped_frames;
            s.lost_events = self.lost_events;
            s.restored_events = self.restored_events;
            s.lost_frames = self.lost_frames;
            s.reanchors = c.reanchors;
        });
    }
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    rings: CallbackRings,
    signals: Arc<Signals>,
    err: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device.build_input_stream::<T, _, _>(config, data_callback::<T>(rings, signals), err, None)
}
