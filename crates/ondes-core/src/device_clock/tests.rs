//! The device clock in simulated time: a device whose crystal is off by ±100 ppm, callbacks
//! delayed by a jittery scheduler, stalls that lose samples.

use super::*;

const RATE: u32 = 48_000;
const PERIOD: u64 = 480; // 10 ms callbacks
const FRAME: u64 = 960; // 20 ms frames
const FRAME_US: f64 = 20_000.0;

/// Deterministic scheduler jitter: mostly 0.1–2 ms, now and then a 12 ms hiccup.
struct Jitter(u64);

impl Jitter {
    fn next_us(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let u = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        if u < 0.01 { 12_000.0 * u * 100.0 } else { 100.0 + 1_900.0 * u }
    }
}

/// A simulated device: sample `n` is captured at `start + n / true_rate` (µs).
struct Device {
    start_us: f64,
    true_rate: f64,
}

impl Device {
    fn new(ppm: f64) -> Self {
        Device { start_us: 1_700_000_000_000_000.0, true_rate: RATE as f64 * (1.0 + ppm * 1e-6) }
    }

    fn captured_at(&self, n: u64) -> f64 {
        self.start_us + n as f64 * 1e6 / self.true_rate
    }
}

/// Runs `secs` of a device at `ppm`; returns the worst |timestamp − true capture time| over
/// all frames, the worst after `settle_secs`, the largest deviation of consecutive frame
/// timestamps from the nominal frame duration, and the clock.
fn run(ppm: f64, secs: u64, settle_secs: u64) -> (f64, f64, f64, DeviceClock) {
    let dev = Device::new(ppm);
    let mut clock = DeviceClock::new(DeviceClockConfig::new(RATE, 2 * PERIOD));
    let mut jitter = Jitter(0x9E37_79B9_7F4A_7C15);
    let periods = secs * RATE as u64 / PERIOD;
    let (mut worst, mut worst_settled, mut worst_step) = (0.0f64, 0.0f64, 0.0f64);
    let mut next_frame = 0u64;
    let mut prev_ts: Option<i64> = None;
    for p in 0..periods {
        let end = (p + 1) * PERIOD;
        let now = dev.captured_at(end) + jitter.next_us();
        let t = clock.handle_period(PERIOD, now as i64);
        assert_eq!(t.gap_before, 0, "no sample is lost in a clean run (period {p})");
        // frames complete with this period get their timestamps now, as the source does
        while next_frame + FRAME <= clock.next_sample() {
            let ts = clock.timestamp_of(next_frame);
            let err = (ts as f64 - dev.captured_at(next_frame)).abs();
            worst = worst.max(err);
            if next_frame >= settle_secs * RATE as u64 {
                worst_settled = worst_settled.max(err);
            }
            // once the anchor's offset is taken up, timestamps glide
            if let Some(prev) = prev_ts.filter(|_| next_frame > settle_secs * RATE as u64) {
                worst_step = worst_step.max(((ts - prev) as f64 - FRAME_US).abs());
            }
            prev_ts = Some(ts);
            next_frame += FRAME;
        }
    }
    (worst, worst_settled, worst_step, clock)
}

#[test]
fn an_hour_at_plus_100_ppm_stays_within_one_frame_of_wall_clock() {
    let (worst, settled, step, clock) = run(100.0, 3_600, 30);
    assert!(worst < FRAME_US, "worst error {worst:.0} µs over the hour");
    assert!(settled < 2_500.0, "after 30 s the error stays within 2.5 ms: {settled:.0} µs");
    // timestamps glide: once settled, no frame is more than 0.1 % (20 µs) + rounding off the
    // nominal step (and never more than the 1 % bound of the correction)
    assert!(step <= 21.0, "largest step deviation {step} µs");
    let d = clock.drift_ppm();
    assert!((d - 100.0).abs() < 3.0, "drift estimate {d:.2} ppm");
    assert_eq!(clock.stats().gaps, 0);
}

#[test]
fn an_hour_at_minus_100_ppm_stays_within_one_frame_of_wall_clock() {
    let (worst, settled, step, clock) = run(-100.0, 3_600, 30);
    assert!(worst < FRAME_US, "worst error {worst:.0} µs over the hour");
    assert!(settled < 2_500.0, "after 30 s the error stays within 2.5 ms: {settled:.0} µs");
    assert!(step <= 21.0, "largest step deviation {step} µs");
    let d = clock.drift_ppm();
    assert!((d + 100.0).abs() < 3.0, "drift estimate {d:.2} ppm");
}

#[test]
fn a_wall_clock_pacer_would_drift_where_the_device_clock_does_not() {
    // the point of the exercise: at 100 ppm, frames timed by a pacer at the nominal rate would
    // be 360 ms off after an hour (18 frames), while the device clock stays within one frame
    let (_, settled, _, _) = run(100.0, 3_600, 30);
    let dev = Device::new(100.0);
    let n = 3_600 * RATE as u64;
    let pacer_error = (dev.start_us + n as f64 * 1e6 / RATE as f64) - dev.captured_at(n);
    assert!(pacer_error > 17.0 * FRAME_US, "{pacer_error}");
    assert!(settled < FRAME_US);
}

#[test]
fn a_stall_longer_than_the_buffer_is_a_gap_of_the_lost_samples() {
    let dev = Device::new(40.0);
    let mut clock = DeviceClock::new(DeviceClockConfig::new(RATE, 2 * PERIOD));
    let mut jitter = Jitter(7);
    let mut p = 0u64;
    // 10 s of clean capture
    while p < 1_000 {
        p += 1;
        let t = clock.handle_period(PERIOD, (dev.captured_at(p * PERIOD) + jitter.next_us()) as i64);
        assert_eq!(t.gap_before, 0);
    }
    // the reader stalls for 500 ms: the device overwrites its buffer; 50 periods are lost and
    // the next period delivered is the one captured after the stall
    clock.handle_xrun();
    p += 50;
    // the gap is confirmed after a run of late periods, and reported before the last of them
    let mut gap = 0;
    let mut confirmed_at = None;
    for _ in 0..8 {
        p += 1;
        let t = clock.handle_period(PERIOD, (dev.captured_at(p * PERIOD) + 300.0) as i64);
        if t.gap_before > 0 {
            gap += t.gap_before;
            confirmed_at = Some((p, t.first_sample));
        }
    }
    let lost = 50 * PERIOD;
    assert!(gap.abs_diff(lost) <= 48, "gap {gap} samples, lost {lost}");
    assert_eq!(clock.stats().gaps, 1);
    assert_eq!(clock.stats().xruns, 1);
    assert_eq!(clock.stats().gap_samples, gap);
    // after the gap, timestamps are those of the samples' real capture times
    let (at, first) = confirmed_at.expect("the gap was reported");
    let ts = clock.timestamp_of(first);
    let truth = dev.captured_at((at - 1) * PERIOD);
    assert!((ts as f64 - truth).abs() < 2_000.0, "{} µs off after the gap", ts as f64 - truth);
    // and the run goes on without another gap
    for _ in 0..500 {
        p += 1;
        let t = clock.handle_period(PERIOD, (dev.captured_at(p * PERIOD) + jitter.next_us()) as i64);
        assert_eq!(t.gap_before, 0);
    }
}

#[test]
fn a_scheduler_stall_longer_than_the_buffer_loses_nothing_when_the_backlog_drains() {
    // the reader is 80 ms late (twice the buffer) but the device's real buffer held it: the
    // next callbacks come in a burst, on time for their samples. Not a gap.
    let dev = Device::new(0.0);
    let mut clock = DeviceClock::new(DeviceClockConfig::new(RATE, 2 * PERIOD));
    for p in 1..=300u64 {
        clock.handle_period(PERIOD, (dev.captured_at(p * PERIOD) + 200.0) as i64);
    }
    let woke = dev.captured_at(308 * PERIOD);
    for p in 301..=308u64 {
        let t = clock.handle_period(PERIOD, (woke + (p - 301) as f64 * 50.0) as i64);
        assert_eq!(t.gap_before, 0, "period {p}");
    }
    for p in 309..=400u64 {
        let t = clock.handle_period(PERIOD, (dev.captured_at(p * PERIOD) + 200.0) as i64);
        assert_eq!(t.gap_before, 0, "period {p}");
    }
    assert_eq!(clock.stats().gaps, 0);
}

#[test]
fn a_late_callback_within_the_buffer_is_not_a_gap() {
    let dev = Device::new(0.0);
    let mut clock = DeviceClock::new(DeviceClockConfig::new(RATE, 4 * PERIOD));
    for p in 1..=300u64 {
        // every 50th callback is 25 ms late (within the 40 ms buffer); the next one catches up
        let late = if p % 50 == 0 { 25_000.0 } else { 200.0 };
        let t = clock.handle_period(PERIOD, (dev.captured_at(p * PERIOD) + late) as i64);
        assert_eq!(t.gap_before, 0, "period {p}");
    }
}

#[test]
fn samples_dropped_by_the_caller_are_a_gap_of_exactly_that_length() {
    let dev = Device::new(0.0);
    let mut clock = DeviceClock::new(DeviceClockConfig::new(RATE, 2 * PERIOD));
    for p in 1..=100u64 {
        clock.handle_period(PERIOD, dev.captured_at(p * PERIOD) as i64);
    }
    let before = clock.next_sample();
    assert_eq!(clock.handle_dropped(3 * PERIOD), 3 * PERIOD);
    assert_eq!(clock.next_sample(), before + 3 * PERIOD);
    // the next period is on time for its place after the dropped samples: no second gap
    let t = clock.handle_period(PERIOD, dev.captured_at(104 * PERIOD) as i64);
    assert_eq!(t.gap_before, 0);
    assert_eq!(t.first_sample, before + 3 * PERIOD);
    let s = clock.stats();
    assert_eq!((s.gaps, s.gap_samples), (1, 3 * PERIOD));
}

#[test]
fn a_restarted_device_is_re_anchored_and_keeps_its_drift_estimate() {
    let (_, _, _, mut clock) = run(60.0, 120, 30);
    let drift = clock.drift_ppm();
    assert!((drift - 60.0).abs() < 5.0, "{drift}");
    clock.restart();
    let at = clock.next_sample() + 10 * RATE as u64; // 10 s without the device
    clock.skip_to(at);
    let now = 1_800_000_000_000_000i64;
    let t = clock.handle_period(PERIOD, now);
    assert_eq!(t.gap_before, 0, "a restart is not an overrun");
    assert_eq!(t.first_sample, at);
    assert_eq!(clock.timestamp_of(at + PERIOD), now);
    assert_eq!(clock.stats().reanchors, 1);
    assert!((clock.drift_ppm() - drift).abs() < 1e-9);
}
