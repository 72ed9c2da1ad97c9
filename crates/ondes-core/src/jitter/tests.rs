//! The jitter buffer in simulated time: arrivals are generated from a seeded network model,
//! the playout clock is a loop, nothing sleeps.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const FRAME: i64 = 20_000;
const SECOND: i64 = 1_000_000;
/// The sender's capture clock at sequence 0.
const CAPTURE0: i64 = 1_763_700_000_000_000;
/// The receiver's clock at the capture of sequence 0: a different clock, to show that the
/// offset between them does not matter.
const RX0: i64 = 5_000_000_000;

struct Arrival<T> {
    at: i64,
    seq: u64,
    capture: i64,
    payload: T,
}

/// Frames `0..n`, frame `seq` taking `transit(seq)` µs (`None`: lost in the network).
fn stream<T>(
    n: u64,
    mut transit: impl FnMut(u64) -> Option<i64>,
    mut payload: impl FnMut(u64) -> T,
) -> Vec<Arrival<T>> {
    (0..n)
        .filter_map(|seq| {
            let t = transit(seq)?;
            let offset = seq as i64 * FRAME;
            Some(Arrival { at: RX0 + offset + t, seq, capture: CAPTURE0 + offset, payload: payload(seq) })
        })
        .collect()
}

/// A buffer fed by a list of arrivals and polled once per frame by a simulated clock.
struct Sim<T> {
    jb: JitterBuffer<T>,
    /// Arrivals not yet delivered, latest first (so `pop` yields the next one).
    pending: Vec<Arrival<T>>,
    now: i64,
}

impl<T> Sim<T> {
    fn new(cfg: JitterConfig, mut arrivals: Vec<Arrival<T>>) -> Self {
        arrivals.sort_by_key(|a| std::cmp::Reverse((a.at, a.seq)));
        // the playout clock's phase is unrelated to the arrivals'
        Sim { jb: JitterBuffer::new(cfg).expect("valid config"), pending: arrivals, now: RX0 + 7_300 }
    }

    /// Delivers what has arrived by now, then polls; the clock moves one frame on.
    fn tick(&mut self) -> Playout<T> {
        while self.pending.last().is_some_and(|a| a.at <= self.now) {
            let a = self.pending.pop().expect("checked above");
            self.jb.insert(a.seq, a.capture, a.payload, a.at);
        }
        let out = self.jb.poll(self.now);
        // a shortened frame (cut as far as allowed) plays for less than a period
        let cut = match &out {
            Playout::Accelerate { max_remove_us, .. } => {
                self.jb.record_accelerated(*max_remove_us);
                *max_remove_us as i64
            }
            _ => 0,
        };
        self.now += FRAME - cut;
        out
    }

    /// Ticks until `RX0 + until`, handing each outcome to `f`.
    fn run_until(&mut self, until: i64, mut f: impl FnMut(&mut JitterBuffer<T>, Playout<T>)) {
        while self.now < RX0 + until {
            let out = self.tick();
            f(&mut self.jb, out);
        }
    }
}

fn cfg() -> JitterConfig {
    JitterConfig::for_frame(FRAME as u64)
}

/// Asserts that the frames played (payload = sequence number) are consecutive.
fn assert_in_order(played: &[u64]) {
    for w in played.windows(2) {
        assert_eq!(w[1], w[0] + 1, "played out of order or with a hole: {} then {}", w[0], w[1]);
    }
}

#[test]
fn steady_arrivals_keep_the_target_near_one_frame() {
    let mut rng = StdRng::seed_from_u64(1);
    let frames = stream(3_000, |_| Some(30_000 + rng.random_range(-500..=500)), |s| s);
    let mut sim = Sim::new(cfg(), frames);
    let mut played = Vec::new();
    sim.run_until(59 * SECOND, |_, p| {
        if let Some(s) = p.into_frame() {
            played.push(s);
        }
    });
    let jb = &sim.jb;
    let (lo, hi) = jb.target_range_us().expect("playing");
    assert!(hi <= 2 * FRAME, "target rose to {hi} µs with steady arrivals");
    assert!(lo >= FRAME, "the target keeps one frame of margin, got {lo}");
    let s = jb.stats();
    assert_eq!((s.lost, s.late, s.underruns, s.dropped, s.stretched), (0, 0, 0, 0, 0), "{s:?}");
    assert!(played.len() > 2_900, "{} frames played", played.len());
    assert_eq!(played[0], 0);
    assert_in_order(&played);
    assert!(jb.delay_us(sim.now).unwrap() <= 2 * FRAME, "playout delay {:?}", jb.delay_us(sim.now));
}

/// 10 s steady, 10 s of uniform jitter in `jitter` (µs added to a 50 ms transit), 40 s
/// steady again; checks adaptation, no loss once adapted, and the slow shrink afterwards.
/// Returns the stats at the end of the burst.
fn jitter_burst(seed: u64, jitter: std::ops::RangeInclusive<i64>) -> JitterStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let burst = 500..1_000;
    let frames = stream(
        4_000,
        |seq| Some(50_000 + if burst.contains(&seq) { rng.random_range(jitter.clone()) } else { 0 }),
        |s| s,
    );
    let mut sim = Sim::new(cfg(), frames);
    let mut played = Vec::new();
    let mut log = |_: &mut JitterBuffer<u64>, p: Playout<u64>| {
        if let Some(s) = p.into_frame() {
            played.push(s);
        }
    };
    sim.run_until(10 * SECOND, &mut log);
    let before = sim.jb.stats();
    assert_eq!((before.lost, before.underruns, before.stretched), (0, 0, 0), "{before:?}");
    // give the buffer 2 s to adapt
    sim.run_until(12 * SECOND, &mut log);
    let adapted = sim.jb.stats();
    assert!(adapted.stretched + adapted.underrun_frames > 0, "the buffer grew: {adapted:?}");
    let delay = sim.jb.delay_us(sim.now).expect("playing");
    assert!(delay >= 80_000, "after adapting the playout runs {delay} µs behind the fastest frames");
    sim.run_until(20 * SECOND, &mut log);
    let burst_end = sim.jb.stats();
    assert_eq!(burst_end.underruns, adapted.underruns, "underrun after adapting: {burst_end:?}");
    assert_eq!(burst_end.lost, adapted.lost, "frames lost after adapting: {burst_end:?}");
    assert_eq!(burst_end.late, adapted.late, "late frames after adapting: {burst_end:?}");
    let (_, peak) = sim.jb.target_range_us().expect("playing");
    assert!(peak >= 80_000, "the target must cover the 80 ms spread, peaked at {peak} µs");
    assert!(peak <= 120_000, "the target overshot to {peak} µs");

    // afterwards: shrink by playing frames shortened, never more than half the playout
    // time in a second, and drop nothing
    let mut cut = burst_end.accelerated_us;
    for second in 21..=50 {
        sim.run_until(second * SECOND, &mut log);
        let now = sim.jb.stats().accelerated_us;
        assert!(now - cut <= 500_000, "cut {} µs in one second", now - cut);
        cut = now;
    }
    let target = sim.jb.target_us();
    assert!(target <= peak / 2, "30 s after the burst the target is {target} µs (peak {peak})");
    let delay = sim.jb.delay_us(sim.now).expect("playing");
    assert!(delay <= peak / 2 + FRAME, "30 s after the burst the playout delay is {delay} µs");
    let end = sim.jb.stats();
    assert_eq!((end.lost, end.late, end.underruns), (burst_end.lost, burst_end.late, burst_end.underruns));
    assert!(end.accelerated_us > 0, "the delay came down by playing frames shorter: {end:?}");
    assert_eq!(end.dropped, 0, "no frame dropped: {end:?}");
    assert!(played.windows(2).all(|w| w[1] > w[0]), "frames play in sequence order");
    let history = sim.jb.history();
    assert!(history.len() >= 45, "about one history point per second, got {}", history.len());
    let sampled_peak = history.iter().map(|h| h.target_us).max().unwrap_or(0);
    assert!(sampled_peak >= peak * 4 / 5, "the history shows the burst: {sampled_peak} vs {peak}");
    burst_end
}

#[test]
fn a_symmetric_jitter_burst_is_absorbed_and_the_buffer_shrinks_back() {
    // ±40 ms around the usual transit: half the jitter is early, the base moves down
    for seed in [7, 8, 9] {
        jitter_burst(seed, -40_000..=40_000);
    }
}

#[test]
fn a_queueing_burst_is_absorbed_and_the_buffer_shrinks_back() {
    // 0–80 ms of queueing delay (±40 ms around a 40 ms shift): the buffer must grow by
    // about 80 ms, and pays for it with a few concealed frames while adapting
    for seed in [7, 8, 9] {
        let s = jitter_burst(seed, 0..=80_000);
        assert!(s.stretched + s.underrun_frames >= 3, "grew by ~80 ms: {s:?}");
    }
}

/// A payload that says whether it carries FEC for the frame before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packet {
    seq: u64,
    fec: bool,
}

fn lossy_run(fec: bool) -> (JitterStats, Vec<u64>, u64) {
    let mut rng = StdRng::seed_from_u64(42);
    let lost: Vec<bool> = (0..3_000u64).map(|seq| seq > 0 && rng.random_bool(0.05)).collect();
    let frames = stream(3_000, |seq| (!lost[seq as usize]).then_some(30_000), |seq| Packet { seq, fec });
    let mut sim = Sim::new(cfg(), frames);
    let mut missing = Vec::new();
    sim.run_until(59 * SECOND, |jb, p| {
        if let Playout::Missing { seq } = p {
            missing.push(seq);
            if jb.peek_next().is_some_and(|next| next.fec) {
                jb.record_fec_recovered();
            }
        }
    });
    let next = sim.jb.next_seq().expect("playing");
    let dropped: Vec<u64> = (0..next).filter(|&s| lost[s as usize]).collect();
    assert_eq!(missing, dropped, "exactly the frames lost in the network are reported missing");
    let recoverable = dropped.iter().filter(|&&s| !lost[s as usize + 1]).count() as u64;
    (sim.jb.stats(), dropped, recoverable)
}

#[test]
fn five_percent_loss_with_fec_reports_the_recovered_share() {
    let (s, dropped, recoverable) = lossy_run(true);
    let n = dropped.len() as u64;
    assert!((100..200).contains(&n), "5% of ~2950 frames lost, got {n}");
    assert_eq!(s.lost, n);
    assert_eq!(s.fec_recovered, recoverable, "every loss followed by a received packet is recovered");
    let share = s.fec_recovered as f64 / s.lost as f64;
    assert!(share > 0.9, "recovered share {share}");
    assert_eq!(s.concealed, s.lost - s.fec_recovered + s.underrun_frames + s.stretched);

    let (s, dropped, _) = lossy_run(false);
    assert_eq!(s.lost, dropped.len() as u64);
    assert_eq!(s.fec_recovered, 0);
    assert_eq!(s.concealed, s.lost + s.underrun_frames + s.stretched);
}

#[test]
fn reordering_within_the_target_loses_nothing() {
    // every even frame overtaken by the odd one after it (25 ms extra delay)
    let frames = stream(1_500, |seq| Some(if seq % 2 == 0 { 55_000 } else { 30_000 }), |s| s);
    let mut sim = Sim::new(cfg(), frames);
    let mut played = Vec::new();
    sim.run_until(29 * SECOND, |_, p| {
        if let Some(s) = p.into_frame() {
            played.push(s);
        }
    });
    let s = sim.jb.stats();
    assert_eq!((s.lost, s.late, s.underruns, s.duplicates), (0, 0, 0, 0), "{s:?}");
    assert_eq!(played[0], 0, "the overtaken first frame still plays first");
    assert_in_order(&played);
    assert!(played.len() > 1_400);
    let target = sim.jb.target_us();
    assert!((45_000..=65_000).contains(&target), "target {target} µs for 25 ms of reordering");
}

/// Frames `0..n` where frame `seq` is stamped `stamp(seq)` µs after its slot on the sender's
/// frame clock and arrives `arrive(seq)` µs after that slot.
fn stamped(n: u64, stamp: impl Fn(u64) -> i64, arrive: impl Fn(u64) -> i64) -> Vec<Arrival<u64>> {
    (0..n)
        .map(|seq| {
            let slot = seq as i64 * FRAME;
            Arrival { at: RX0 + slot + arrive(seq), seq, capture: CAPTURE0 + slot + stamp(seq), payload: seq }
        })
        .collect()
}

#[test]
fn jittery_capture_stamps_do_not_matter_only_arrivals_do() {
    // the sender stamps frames up to 15 ms off its frame clock, but sends them on time
    let noise = |seq: u64| ((seq * 7_919) % 31) as i64 * 1_000 - 15_000;
    let frames = stamped(1_500, noise, |_| 30_000);
    let mut sim = Sim::new(cfg(), frames);
    let mut played = Vec::new();
    sim.run_until(29 * SECOND, |_, p| {
        if let Some(s) = p.into_frame() {
            played.push(s);
        }
    });
    let (_, hi) = sim.jb.target_range_us().unwrap();
    assert!(hi <= 2 * FRAME, "the target followed the stamps' noise: {hi} µs");
    let s = sim.jb.stats();
    assert_eq!((s.lost, s.late, s.underruns, s.stretched), (0, 0, 0, 0), "{s:?}");
    assert_in_order(&played);
}

#[test]
fn a_recurring_source_stall_costs_one_underrun_then_none() {
    // every 2 s the sender's source thread stalls 30 ms: frame k is produced (stamped and
    // sent) 30 ms late and frame k + 1 right after it, 10 ms late
    let stall = |seq: u64| match seq % 100 {
        50 => 30_000,
        51 => 10_000,
        _ => 0,
    };
    let frames = stamped(1_000, stall, |seq| stall(seq) + 1_000);
    let mut sim = Sim::new(cfg(), frames);
    let mut played = Vec::new();
    let mut log = |_: &mut JitterBuffer<u64>, p: Playout<u64>| {
        if let Some(s) = p.into_frame() {
            played.push(s);
        }
    };
    sim.run_until(1_500_000, &mut log);
    let first = sim.jb.stats();
    assert!(first.underruns <= 1 && first.lost == 0, "{first:?}");
    sim.run_until(19 * SECOND, &mut log);
    let s = sim.jb.stats();
    assert_eq!(
        (s.underruns, s.lost, s.late),
        (first.underruns, 0, first.late),
        "stalls after the first: {s:?}"
    );
    assert!(sim.jb.target_us() >= 30_000, "the target covers the stall: {}", sim.jb.target_us());
    assert_in_order(&played);
}

#[test]
fn the_target_falls_back_once_recurring_stalls_stop() {
    // the source stalls 30 ms every 2 s for 10 s, then runs clean (a link that recovered)
    let stall = |seq: u64| match (seq < 500, seq % 100) {
        (true, 50) => 30_000,
        (true, 51) => 10_000,
        _ => 0,
    };
    let frames = stamped(1_500, stall, |seq| stall(seq) + 1_000);
    let mut sim = Sim::new(cfg(), frames);
    let mut log = |_: &mut JitterBuffer<u64>, _: Playout<u64>| {};
    sim.run_until(9_900_000, &mut log);
    assert!(sim.jb.target_us() >= 30_000, "held while they recur: {}", sim.jb.target_us());
    // the last stall was at 9 s; twice the 2 s period later the pattern is over, long
    // before the 20 s memory runs out
    sim.run_until(17 * SECOND, &mut log);
    assert!(sim.jb.target_us() < 30_000, "back below the stall: {}", sim.jb.target_us());
    assert_eq!(sim.jb.stats().lost, 0);
}

#[test]
fn playback_starts_after_the_target_delay() {
    // batches of four frames, as the WebSocket egress sends by default
    let frames = stream(200, |seq| Some(10_000 + (3 - (seq % 4) as i64) * FRAME), |s| s);
    let mut sim = Sim::new(cfg(), frames);
    let mut first_frame_at = None;
    let mut buffering = 0;
    sim.run_until(3 * SECOND, |jb, p| match p {
        Playout::Buffering => buffering += 1,
        Playout::Frame(0) | Playout::Accelerate { payload: 0, .. } => first_frame_at = Some(jb.target_us()),
        _ => {}
    });
    assert!(buffering >= 2, "nothing plays until the delay reaches the target");
    // the first batch spreads its frames over 60 ms: 60 ms of jitter + one frame
    assert_eq!(first_frame_at, Some(80_000));
    let s = sim.jb.stats();
    assert_eq!((s.lost, s.late, s.underruns, s.stretched), (0, 0, 0, 0), "{s:?}");
}

#[test]
fn a_stall_is_one_underrun_and_the_waited_for_frames_still_play() {
    // frames 100..=109 are held up and arrive together with frame 110 (a 200 ms stall)
    let frames = stream(
        1_000,
        |seq| Some(if (100..110).contains(&seq) { 30_000 + (110 - seq as i64) * FRAME } else { 30_000 }),
        |s| s,
    );
    let mut sim = Sim::new(cfg(), frames);
    let mut played = Vec::new();
    let mut kinds = Vec::new();
    sim.run_until(19 * SECOND, |_, p| {
        kinds.push(std::mem::discriminant(&p));
        if let Some(s) = p.into_frame() {
            played.push(s);
        }
    });
    let s = sim.jb.stats();
    assert_eq!(s.underruns, 1, "{s:?}");
    assert!(s.underrun_frames >= 8, "{s:?}");
    assert_eq!(s.lost, 0, "{s:?}");
    assert_eq!(s.late, 1, "the frame waited for arrived after its play time: {s:?}");
    assert!(played.contains(&100) && played.contains(&109));
    // afterwards the delay is far above the target: drained by playing frames shorter
    assert!(s.accelerated_us >= 100_000, "{s:?}");
    assert_eq!(s.dropped, 0, "{s:?}");
    let (delay, target) = (sim.jb.delay_us(sim.now).unwrap(), sim.jb.target_us());
    // within the dead band above the target (half a frame, or a tenth of the target)
    assert!(delay <= target + (FRAME / 2).max(target / 10), "delay {delay} µs, target {target} µs");
    assert!(target < 3 * FRAME, "the target decays after the stall: {target} µs");
}

#[test]
fn duplicates_and_too_late_frames_are_counted_and_dropped() {
    let mut jb = JitterBuffer::new(cfg()).unwrap();
    let t0 = RX0;
    assert_eq!(jb.poll(t0), Playout::Buffering);
    assert_eq!(jb.insert(0, CAPTURE0, 0u64, t0), Inserted::Buffered);
    assert_eq!(jb.insert(0, CAPTURE0, 0u64, t0 + 10), Inserted::Duplicate);
    assert_eq!(jb.poll(t0 + 1), Playout::Buffering);
    assert_eq!(jb.poll(t0 + FRAME), Playout::Frame(0));
    // frame 1 is lost, frame 2 is here
    jb.insert(2, CAPTURE0 + 2 * FRAME, 2, t0 + 2 * FRAME);
    assert_eq!(jb.poll(t0 + 2 * FRAME), Playout::Missing { seq: 1 });
    assert_eq!(jb.peek_next(), Some(&2));
    assert_eq!(jb.insert(1, CAPTURE0 + FRAME, 1, t0 + 2 * FRAME + 5), Inserted::Late);
    assert_eq!(jb.insert(1, CAPTURE0 + FRAME, 1, t0 + 2 * FRAME + 6), Inserted::Duplicate);
    assert_eq!(jb.insert(0, CAPTURE0, 0, t0 + 2 * FRAME + 7), Inserted::Duplicate);
    // the late frame's 20 ms of extra delay raised the target: the buffer grows first
    assert_eq!(jb.poll(t0 + 3 * FRAME), Playout::Stretch);
    assert_eq!(jb.poll(t0 + 4 * FRAME), Playout::Frame(2));
    let s = jb.stats();
    assert_eq!((s.received, s.played, s.lost, s.late, s.duplicates), (3, 2, 1, 1, 3));
    assert_eq!(jb.concealed_us(), 2 * FRAME as u64, "one lost, one stretched");
}

#[test]
fn a_jump_longer_than_the_maximum_delay_is_skipped_not_lost() {
    // the sender skipped 2 s ahead after frame 99 (a listener moved to live)
    let frames: Vec<_> =
        stream(300, |_| Some(30_000), |s| s).into_iter().filter(|a| !(100..200).contains(&a.seq)).collect();
    let mut sim = Sim::new(cfg(), frames);
    let mut played = Vec::new();
    sim.run_until(7 * SECOND, |_, p| {
        if let Some(s) = p.into_frame() {
            played.push(s);
        }
    });
    let s = sim.jb.stats();
    assert_eq!(s.skipped, 100, "{s:?}");
    assert_eq!(s.lost, 0, "{s:?}");
    assert_eq!(played.iter().filter(|&&p| p >= 200).count(), 100);
}

#[test]
fn a_restarted_sequence_starts_over() {
    let mut jb = JitterBuffer::new(cfg()).unwrap();
    let mut now = RX0;
    for seq in 5_000..5_100u64 {
        jb.insert(seq, CAPTURE0 + seq as i64 * FRAME, seq, now);
        jb.poll(now + FRAME / 2);
        now += FRAME;
    }
    assert!(jb.is_playing());
    // sequence numbers from 0 again, captured now
    assert_eq!(jb.insert(0, CAPTURE0 + 5_100 * FRAME, 0, now), Inserted::Buffered);
    assert_eq!(jb.next_seq(), Some(0));
    assert_eq!(jb.poll(now + 1), Playout::Buffering);
    assert_eq!(jb.poll(now + FRAME), Playout::Frame(0));
}

#[test]
fn a_flood_above_the_maximum_delay_is_cut_at_once() {
    let mut cfg = cfg();
    cfg.max_delay_us = 200_000;
    // one second of frames held up, then delivered together
    let frames = stream(
        500,
        |seq| Some(if (50..100).contains(&seq) { 30_000 + (100 - seq as i64) * FRAME } else { 30_000 }),
        |s| s,
    );
    let mut sim = Sim::new(cfg, frames);
    sim.run_until(2_100_000, |_, _| {});
    let s = sim.jb.stats();
    assert_eq!(s.underruns, 1);
    assert!(s.dropped >= 30, "the excess above 200 ms went at once: {s:?}");
    let delay = sim.jb.delay_us(sim.now).unwrap();
    assert!(delay <= 200_000 + FRAME, "delay {delay}");
}

#[test]
fn the_target_stays_within_its_bounds() {
    let mut cfg = cfg();
    cfg.min_delay_us = 60_000;
    cfg.max_delay_us = 100_000;
    let mut rng = StdRng::seed_from_u64(3);
    let frames = stream(1_000, |_| Some(rng.random_range(0..300_000)), |s| s);
    let mut sim = Sim::new(cfg, frames);
    sim.run_until(20 * SECOND, |_, _| {});
    let (lo, hi) = sim.jb.target_range_us().unwrap();
    assert!(lo >= 60_000 && hi <= 100_000, "{lo}..{hi}");
}

#[test]
fn the_history_is_bounded_and_spans_the_whole_run() {
    let mut cfg = cfg();
    cfg.history_len = 64;
    let frames = stream(50_000, |_| Some(30_000), |s| s);
    let mut sim = Sim::new(cfg, frames);
    sim.run_until(990 * SECOND, |_, _| {});
    let h = sim.jb.history();
    assert!(h.len() < 64 && h.len() >= 30, "{} points", h.len());
    assert!(h[0].at_us < RX0 + SECOND);
    assert!(h[h.len() - 1].at_us > RX0 + 900 * SECOND);
}

#[test]
fn bad_configs_are_rejected() {
    let bad = [
        JitterConfig { frame_us: 0, ..cfg() },
        JitterConfig { min_delay_us: 2, max_delay_us: 1, ..cfg() },
        JitterConfig { quantile: 0.0, ..cfg() },
        JitterConfig { quantile: f64::NAN, ..cfg() },
        JitterConfig { window_us: 10, ..cfg() },
        JitterConfig { shrink_rate: 1.5, ..cfg() },
    ];
    for c in bad {
        assert!(JitterBuffer::<()>::new(c.clone()).is_err(), "{c:?} accepted");
    }
}

/// Frames 0..500 with 30 ms transit, except 200..250 which the sender skipped; the skip is
/// announced (as the server's `lagged` notice does) when `announce`.
fn skip_run(announce: bool) -> (JitterStats, Vec<u64>) {
    let mut jb = JitterBuffer::new(cfg()).unwrap();
    let mut played = Vec::new();
    let mut now = RX0 + 7_300;
    for seq in (0..500u64).filter(|s| !(200..250).contains(s)) {
        let at = RX0 + seq as i64 * FRAME + 30_000;
        while now < at {
            if let Some(s) = jb.poll(now).into_frame() {
                played.push(s);
            }
            now += FRAME;
        }
        if seq == 250 && announce {
            jb.sender_skipped();
        }
        jb.insert(seq, CAPTURE0 + seq as i64 * FRAME, seq, at);
    }
    (jb.stats(), played)
}

#[test]
fn an_announced_skip_is_jumped_over_not_concealed() {
    // 50 frames = 1 s, not above the 1 s maximum delay: unannounced, it looks like loss, and
    // after waiting a second for frame 200 (an underrun) the buffer conceals 50 more frames
    let (quiet, _) = skip_run(false);
    assert_eq!((quiet.lost, quiet.skipped), (50, 0), "{quiet:?}");
    let (s, played) = skip_run(true);
    assert_eq!((s.lost, s.skipped), (0, 50), "{s:?}");
    let i = played.iter().position(|&p| p == 199).unwrap();
    assert_eq!(played[i + 1], 250, "playout goes on with the first frame after the skip");
    assert_eq!(s.underrun_frames, quiet.underrun_frames, "the same wait for the first frame after the skip");
    assert!(s.concealed + 50 <= quiet.concealed, "a second less concealment: {s:?} vs {quiet:?}");
}

#[test]
fn raised_bounds_grow_the_delay_by_stretching_and_lowered_ones_let_it_decay() {
    let frames = stream(3_000, |_| Some(30_000), |s| s);
    let mut sim = Sim::new(cfg(), frames);
    sim.run_until(10 * SECOND, |_, _| {});
    assert!(sim.jb.delay_us(sim.now).unwrap() < 3 * FRAME);
    assert!(sim.jb.set_bounds(2_000_000, 1_000_000).is_err(), "min above max is refused");
    sim.jb.set_bounds(300_000, 1_000_000).unwrap();
    sim.run_until(20 * SECOND, |_, _| {});
    let s = sim.jb.stats();
    assert!(sim.jb.delay_us(sim.now).unwrap() >= 290_000, "{:?}", sim.jb.delay_us(sim.now));
    assert!(s.stretched >= 13 && s.underruns == 0, "{s:?}");
    sim.jb.set_bounds(0, 1_000_000).unwrap();
    sim.run_until(59 * SECOND, |_, _| {});
    assert!(sim.jb.delay_us(sim.now).unwrap() < 150_000, "{:?}", sim.jb.delay_us(sim.now));
    assert_eq!(sim.jb.stats().underruns, 0);
}

/// Frames 100..=109 held up and arriving with frame 110 (a 200 ms stall), as above.
fn stalled_stream() -> Vec<Arrival<u64>> {
    stream(
        1_000,
        |seq| Some(if (100..110).contains(&seq) { 30_000 + (110 - seq as i64) * FRAME } else { 30_000 }),
        |s| s,
    )
}

#[test]
fn without_acceleration_the_excess_goes_by_dropping_frames_slowly() {
    let mut sim = Sim::new(JitterConfig { accelerate_share: 0.0, ..cfg() }, stalled_stream());
    let mut played = Vec::new();
    sim.run_until(19 * SECOND, |_, p| {
        assert!(!matches!(p, Playout::Accelerate { .. }), "acceleration is off");
        if let Some(s) = p.into_frame() {
            played.push(s);
        }
    });
    let s = sim.jb.stats();
    assert!(s.dropped >= 5, "{s:?}");
    assert_eq!((s.accelerated, s.accelerated_us), (0, 0));
    assert!(sim.jb.delay_us(sim.now).unwrap() < 3 * FRAME);
}

#[test]
fn acceleration_drains_at_most_the_configured_share_and_waits_after_the_stall() {
    let mut sim = Sim::new(cfg(), stalled_stream());
    let mut cuts = Vec::new();
    sim.run_until(19 * SECOND, |jb, p| {
        if let Playout::Accelerate { max_remove_us, .. } = p {
            cuts.push(max_remove_us);
            assert!(max_remove_us <= FRAME as u64 / 2, "cut {max_remove_us} µs of a {FRAME} µs frame");
            assert!(jb.stats().underruns <= 1);
        }
    });
    assert!(!cuts.is_empty());
    let total: u64 = cuts.iter().sum();
    assert_eq!(total, sim.jb.stats().accelerated_us);
    // the 200 ms the stall added go in well under two seconds of playout
    assert!(cuts.len() <= 40, "{} frames shortened for {total} µs", cuts.len());
}

/// Frames over a 20 ms path for 10 s, then a path 600 ms slower for 15 s (a drop in
/// capacity: the queue), then the fast path again from 25 s: what queued arrives at once.
/// `jitter` µs of uniform jitter throughout.
fn slower_path_for_a_while(seed: u64, jitter: i64) -> Vec<Arrival<u64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let back_at = 25 * SECOND;
    stream(
        2_500,
        |seq| {
            let capture = seq as i64 * FRAME;
            let fast = 20_000 + rng.random_range(0..=jitter);
            // what queued comes out at the fast link's pace, a frame every 2 ms
            let queued = back_at + (seq as i64 - 1_220).max(0) * 2_000;
            let arrival = if seq < 500 {
                capture + fast
            } else {
                (capture + 600_000 + fast).min(queued).max(capture + fast)
            };
            Some(arrival - capture)
        },
        |s| s,
    )
}

/// When the path gets fast again, the buffer gives back the delay the slower one left
/// within seconds: the fall of the fastest transit, back to the path it had before, drops
/// the slower path's frames — and those of its queue that came with the fall — from the
/// estimate and restarts the target at its calm level of before; the playout drops the
/// excess above the jump threshold at once and plays the rest faster. Half the excess is
/// gone within a second and all of it within two.
#[test]
fn a_faster_path_gives_back_the_slower_paths_delay_within_seconds() {
    // the largest capture-to-playout latency of the frames played until `to` s
    let worst = |sim: &mut Sim<u64>, to: i64| {
        let mut most = 0;
        while sim.now < RX0 + to * SECOND {
            let now = sim.now;
            if let Some(seq) = sim.tick().into_frame() {
                most = most.max(now - RX0 - seq as i64 * FRAME);
            }
        }
        most
    };
    for seed in 1..=5 {
        let mut sim = Sim::new(cfg(), slower_path_for_a_while(seed, 10_000));
        worst(&mut sim, 5);
        let before = worst(&mut sim, 10);
        let slow = worst(&mut sim, 25);
        assert!(slow >= 600_000, "seed {seed}: {slow} µs on the slow path");
        let underruns = sim.jb.stats().underruns;
        worst(&mut sim, 26);
        let half = worst(&mut sim, 27);
        assert!(half <= slow / 2, "seed {seed}: {half} µs 1 s after the path got fast ({slow} on it)");
        let after = worst(&mut sim, 29);
        assert!(
            after <= before * 6 / 5 + FRAME,
            "seed {seed}: {after} µs 2 s after the path got fast (before {before})"
        );
        worst(&mut sim, 49);
        assert_eq!(sim.jb.stats().underruns, underruns, "seed {seed}: the drain cost an underrun");
    }
}

/// A lossy slow path: 40 ms slower than the fast one, with up to 150 ms of retransmission
/// jitter, for 10 s — a fall back from it is smaller than its jitter, but a path that
/// stayed slower for seconds is a path, not an early frame. Meanwhile the server raised the
/// floor (it counts its protection in round trips, and that path's were slow); it lowers it
/// again once the round trip is fast. Within two seconds of the path getting fast the
/// delay is back where it was, and the drain costs no underrun.
#[test]
fn after_a_lossy_slow_path_the_delay_comes_back_within_seconds() {
    for seed in 1..=5 {
        let mut rng = StdRng::seed_from_u64(seed);
        // in order, as over TCP: a retransmission holds back the frames behind it
        let mut last = 0;
        let frames = stream(
            2_000,
            |seq| {
                let slow = (500..1_000).contains(&seq);
                let t = if slow {
                    60_000 + rng.random_range(0..=150_000)
                } else {
                    20_000 + rng.random_range(0..=10_000)
                };
                last = (seq as i64 * FRAME + t).max(last);
                Some(last - seq as i64 * FRAME)
            },
            |s| s,
        );
        let mut sim = Sim::new(cfg(), frames);
        sim.run_until(9 * SECOND, |_, _| {});
        let before = sim.jb.delay_us(sim.now).unwrap();
        sim.run_until(12 * SECOND, |_, _| {});
        sim.jb.set_bounds(400_000, 2_000_000).unwrap();
        sim.run_until(20 * SECOND, |_, _| {});
        let slow = sim.jb.delay_us(sim.now).unwrap();
        assert!(slow >= 400_000, "seed {seed}: {slow} µs on the slow path");
        let underruns = sim.jb.stats().underruns;
        sim.run_until(20 * SECOND + 300_000, |_, _| {});
        sim.jb.set_bounds(0, 2_000_000).unwrap();
        sim.run_until(22 * SECOND, |_, _| {});
        let after = sim.jb.delay_us(sim.now).unwrap();
        assert!(
            after <= before * 6 / 5 + FRAME,
            "seed {seed}: {after} µs 2 s after (before {before}, slow {slow})"
        );
        sim.run_until(39 * SECOND, |_, _| {});
        assert_eq!(sim.jb.stats().underruns, underruns, "seed {seed}: the drain cost an underrun");
    }
}

/// A frame that merely comes early on a jittery path (a fall of the fastest transit within
/// what the jitter covers) is no faster path: the target keeps covering the jitter.
#[test]
fn an_early_frame_on_a_jittery_path_does_not_restart_the_target() {
    let mut rng = StdRng::seed_from_u64(7);
    let frames = stream(
        1_500,
        |seq| Some(if seq == 1_000 { 40_000 } else { 100_000 + rng.random_range(0..=60_000) }),
        |s| s,
    );
    let mut sim = Sim::new(cfg(), frames);
    sim.run_until(19 * SECOND, |_, _| {});
    let target = sim.jb.target_us();
    assert!(target >= 60_000, "the jitter asks for {target} µs");
    let underruns = sim.jb.stats().underruns;
    sim.run_until(29 * SECOND, |_, _| {});
    assert_eq!(sim.jb.stats().underruns, underruns);
    assert!(
        sim.jb.target_us() >= target * 4 / 5,
        "{} µs after the early frame, {target} before",
        sim.jb.target_us()
    );
}
