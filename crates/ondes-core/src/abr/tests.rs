//! The controller alone, driven by hand-made inputs.

use super::*;

const LADDER: [u32; 5] = DEFAULT_LADDER_KBPS;

struct Feed {
    c: Controller,
    now: u64,
    written: f64,
    decisions: Vec<Decision>,
}

impl Feed {
    fn new(cfg: AbrConfig) -> Feed {
        Feed {
            c: Controller::new(cfg, &LADDER, ProfileRequest::Auto, 0).unwrap(),
            now: 0,
            written: 0.0,
            decisions: vec![],
        }
    }

    /// Runs `secs` of send states every 50 ms: the socket takes `bps`, `backlog_us` waits.
    fn send(&mut self, secs: f64, bps: f64, backlog_us: u64) {
        let end = self.now + (secs * 1e6) as u64;
        while self.now < end {
            self.now += 50_000;
            self.written += bps / 8.0 * 0.05;
            let s = SendState { written_bytes: self.written as u64, backlog_us };
            self.c.handle_send_state(s, self.now);
            if let Some(d) = self.c.poll(self.now) {
                self.decisions.push(d);
            }
        }
    }

    /// A listener on the conversation profile (`ultra_performance`), 20 ms frames.
    fn conversation() -> Feed {
        let cfg = AbrConfig { stream_frame_us: 20_000, ..AbrConfig::default() };
        Feed {
            c: Controller::new(cfg, &LADDER, ProfileRequest::Fixed(ProfileName::UltraPerformance), 0)
                .unwrap(),
            now: 0,
            written: 0.0,
            decisions: vec![],
        }
    }

    fn cost(&self, rung: usize) -> f64 {
        self.c.cost_bps(*self.c.profile(), rung)
    }
}

fn no_growth() -> AbrConfig {
    AbrConfig { growth_per_s: 0.0, ..AbrConfig::default() }
}

#[test]
fn starts_on_the_middle_rung() {
    let f = Feed::new(AbrConfig::default());
    assert_eq!(f.c.kbps(), 64);
    assert_eq!(f.c.profile().name, ProfileName::Balanced);
    assert_eq!(f.c.batch(), 4);
}

#[test]
fn goes_up_only_when_the_estimate_clears_the_next_rung_by_twenty_percent() {
    let mut f = Feed::new(no_growth());
    let next = f.cost(3); // 96 kbit/s: 99.2 kbit/s on the socket
    // a measurement (audio briefly waiting, below the congestion threshold) at 1.15 × next
    f.send(1.0, 1.15 * next, 20_000);
    f.send(10.0, f.cost(2), 0);
    assert!(f.decisions.is_empty(), "went up on 1.15 × the next rung: {:?}", f.decisions);
    // at 1.25 × next it goes up, by one rung, with the reason
    f.send(3.0, 1.25 * next, 20_000);
    f.send(6.0, f.cost(2), 0);
    assert_eq!(f.decisions.len(), 1, "{:?}", f.decisions);
    let d = f.decisions[0];
    assert_eq!((d.direction, d.kbps), (Direction::Up, 96));
    assert_eq!(d.reason.code(), "probe_up");
}

#[test]
fn a_backlog_sends_it_straight_to_the_rung_the_link_carries() {
    let mut f = Feed::new(AbrConfig { start_kbps: 128, ..AbrConfig::default() });
    assert_eq!(f.c.kbps(), 128);
    // the socket drains 60 kbit/s while audio piles up
    let mut backlog = 0;
    for _ in 0..40 {
        backlog += 25_000;
        f.send(0.05, 60_000.0, backlog);
    }
    let d = f.decisions.first().expect("no switch down");
    assert_eq!(d.direction, Direction::Down);
    assert!(d.at_us <= 1_000_000, "switched after {} ms", d.at_us / 1000);
    assert_eq!(d.kbps, 32, "{d:?}");
    assert_eq!(d.reason.code(), "backlog");
    assert!(d.reason.to_string().contains("waiting at the server"));
}

/// Buffers between the socket and the bottleneck (a proxy's, a modem's) take audio faster
/// than the link carries for a while: the socket's rate says 120 kbit/s, but audio piles up
/// at half a second per second at 131 kbit/s on the socket, so the link carries about half
/// of that. The switch down lands on a rung that fits the half, not one rung down.
#[test]
fn the_backlogs_growth_bounds_a_socket_rate_that_buffers_inflate() {
    let mut f = Feed::new(AbrConfig { start_kbps: 128, ..AbrConfig::default() });
    let mut backlog = 0;
    for _ in 0..40 {
        backlog += 25_000;
        f.send(0.05, 120_000.0, backlog);
    }
    let d = f.decisions.first().expect("no switch down");
    assert_eq!((d.direction, d.kbps), (Direction::Down, 32), "{d:?}");
    // the reason names what the link carries, not what the buffers took
    assert!(matches!(d.reason, Reason::Backlog { capacity_kbps: Some(60..=70), .. }), "{d:?}");
}

#[test]
fn at_most_one_change_per_interval_under_constant_pressure() {
    let mut f = Feed::new(AbrConfig { start_kbps: 128, ..AbrConfig::default() });
    let mut backlog = 0;
    for _ in 0..400 {
        backlog += 25_000;
        f.send(0.05, 5_000.0, backlog);
    }
    assert!(f.decisions.len() >= 3, "{:?}", f.decisions);
    for w in f.decisions.windows(2) {
        assert!(w[1].at_us - w[0].at_us >= f.c.config().interval_us);
    }
    // below the lowest rung: the emergency profile
    let last = f.decisions.last().unwrap();
    assert_eq!(last.profile, ProfileName::EmergencyFallback);
    assert!(f.decisions.iter().any(|d| d.reason.code() == "fallback"));
    assert_eq!(f.c.batch(), 12); // 4 × 60 ms in 20 ms frames
}

#[test]
fn late_packets_deepen_the_buffer_and_keep_the_rung() {
    let mut f = Feed::new(no_growth());
    f.send(2.0, f.cost(2), 0);
    for i in 0..4 {
        f.c.handle_rtt(100_000, f.now);
        let r = ClientReport {
            buffer_ms: 300.0,
            target_ms: 300.0,
            underruns: i,
            received_frames: 100 * i,
            ..Default::default()
        };
        f.c.handle_report(&r, f.now);
        f.send(1.0, f.cost(2), 0);
    }
    let d = f.decisions.iter().find(|d| d.reason.code() == "late_frames").expect("no deeper buffer");
    assert_eq!(d.kbps, 64);
    // 80 ms message + 6 × 100 ms round trip (the default 3, doubled)
    assert_eq!(d.jitter_target_ms, 680);
    assert_eq!(d.reason, Reason::LateFrames { rtts: 6 });
}

#[test]
fn a_starving_client_without_a_shortage_here_is_not_switched_down() {
    let mut f = Feed::new(no_growth());
    f.send(2.0, f.cost(2), 0);
    let r = ClientReport {
        buffer_ms: 10.0,
        target_ms: 300.0,
        underruns: 3,
        received_frames: 50,
        ..Default::default()
    };
    f.c.handle_report(&r, f.now);
    f.send(3.0, f.cost(2), 0);
    assert!(f.decisions.iter().all(|d| d.direction != Direction::Down || d.kbps == 64), "{:?}", f.decisions);
}

#[test]
fn rejects_bad_ladders() {
    let cfg = AbrConfig::default;
    assert_eq!(Controller::new(cfg(), &[], ProfileRequest::Auto, 0).unwrap_err(), AbrError::EmptyLadder);
    assert!(matches!(Controller::new(cfg(), &[32, 16], ProfileRequest::Auto, 0), Err(AbrError::Unsorted(_))));
    // a fixed profile keeps to its rungs from the start
    let c = Controller::new(cfg(), &LADDER, ProfileRequest::parse("presentation").unwrap(), 0).unwrap();
    assert_eq!((c.profile().name, c.kbps(), c.batch()), (ProfileName::HighThroughput, 64, 24));
}

/// A WebRTC listener: no socket backlog, only the transport's estimates, every 250 ms.
fn estimates(f: &mut Feed, secs: f64, bps: f64) {
    let end = f.now + (secs * 1e6) as u64;
    while f.now < end {
        f.now += 250_000;
        f.c.handle_bandwidth_estimate(bps, f.now);
        if let Some(d) = f.c.poll(f.now) {
            f.decisions.push(d);
        }
    }
}

#[test]
fn a_transport_estimate_below_the_rung_switches_down_and_a_high_one_lets_it_back_up() {
    let mut f = Feed::conversation();
    assert_eq!(f.c.kbps(), 64);
    // the path carries well above the rung: no change for a while
    let plenty = 3.0 * f.cost(2);
    estimates(&mut f, 3.0, plenty);
    assert!(f.decisions.iter().all(|d| d.direction == Direction::Up), "{:?}", f.decisions);
    let before = f.decisions.len();
    let rung = f.c.rung();
    // a cap below what the rung costs: down at once, to a rung that fits with headroom
    let cap = 0.8 * f.cost(2);
    estimates(&mut f, 0.5, cap);
    let d = f.decisions[before..].first().copied().expect("a switch down");
    assert_eq!(d.direction, Direction::Down);
    assert_eq!(d.reason.code(), "bandwidth_estimate");
    assert!(d.rung < rung && f.cost(d.rung) <= 0.9 * cap, "{d:?}");
    let low = d.rung;
    // the cap stays: no probe above it
    estimates(&mut f, 20.0, cap);
    assert_eq!(f.c.rung(), low, "{:?}", f.decisions);
    // the cap lifts: after the hold and a calm period, one rung at a time back up
    let lifted = 4.0 * f.cost(4);
    estimates(&mut f, 60.0, lifted);
    assert_eq!(f.c.rung(), LADDER.len() - 1, "{:?}", f.decisions);
    let ups = f.decisions.iter().filter(|d| d.at_us > 23_500_000 && d.direction == Direction::Up).count();
    assert!(ups >= 2, "{:?}", f.decisions);
}

/// Feeds `secs` of send states with a TCP_INFO sample and a 50 ms ping every second;
/// collects the jitter advice the TCP sizing asks the server to send.
fn tcp_seconds(
    f: &mut Feed,
    secs: u64,
    total_retrans: &mut dyn FnMut(u64) -> u32,
    advice: &mut Vec<JitterAdvice>,
) {
    for _ in 0..secs {
        f.c.handle_rtt(50_000, f.now);
        let info = TcpInfo { rtt_us: 50_000, rttvar_us: 3_000, total_retrans: total_retrans(f.now) };
        f.c.handle_tcp_info(info, f.now);
        f.send(1.0, f.cost(2), 0);
        advice.extend(f.c.poll_jitter(f.now));
    }
}

#[test]
fn tcp_info_sizes_the_jitter_floor_clean_link_small_lossy_link_large() {
    let mut f = Feed::new(no_growth());
    let mut advice = vec![];
    // a new connection: one 80 ms message + 3 round trips of 50 ms, before any sample
    f.c.handle_rtt(50_000, f.now);
    assert_eq!(f.c.jitter_target_us(), 230_000);
    assert_eq!(f.c.jitter_rtts(), 3);
    // a clean link: after 5 s one retransmission's cover, after 10 s one message + margin
    tcp_seconds(&mut f, 25, &mut |_| 0, &mut advice);
    assert_eq!(advice.len(), 2, "{advice:?}");
    // 80 + 1.25 × 50 + the margin: 4 × rttvar (12 ms), at least half the round trip (25 ms)
    assert_eq!(advice[0], JitterAdvice { target_ms: 167, max_ms: 2_000, rtts: 1 });
    // 80 + 25: the balanced profile's own 60 ms target is below one message
    assert_eq!(advice[1], JitterAdvice { target_ms: 105, max_ms: 2_000, rtts: 0 });
    assert_eq!(f.c.jitter_target_us(), 105_000);
    // the rung never moved for it: no decision
    assert!(f.decisions.iter().all(|d| d.reason.code() != "late_frames"), "{:?}", f.decisions);
    // a lossy link: a retransmission every 2 s raises it at once, to the full protection
    let start = f.now;
    tcp_seconds(&mut f, 10, &mut |now| ((now - start) / 2_000_000) as u32, &mut advice);
    assert_eq!(advice[2].target_ms, 167, "{advice:?}");
    assert_eq!(advice.last().unwrap().target_ms, 230, "{advice:?}");
    assert_eq!(f.c.jitter_rtts(), 3);
}

#[test]
fn late_underruns_deepen_the_floor_on_top_of_the_tcp_sizing() {
    let mut f = Feed::new(no_growth());
    let mut advice = vec![];
    tcp_seconds(&mut f, 25, &mut |_| 0, &mut advice);
    assert_eq!(f.c.jitter_rtts(), 0, "clean: no round trips of protection");
    // underruns the server sees no shortage for: late packets
    let mut deepened = vec![];
    for i in 1..=12u64 {
        let r = ClientReport {
            buffer_ms: 300.0,
            target_ms: 300.0,
            underruns: i,
            received_frames: 50 * (25 + i),
            ..Default::default()
        };
        f.c.handle_report(&r, f.now);
        tcp_seconds(&mut f, 3, &mut |_| 0, &mut advice);
        if let Some(d) = f.decisions.last().filter(|d| d.reason.code() == "late_frames")
            && deepened.last() != Some(&d.reason)
        {
            deepened.push(d.reason);
        }
    }
    // the full protection first, then doubled, then the most allowed: 3 → 6 → 8
    assert_eq!(
        deepened,
        vec![Reason::LateFrames { rtts: 3 }, Reason::LateFrames { rtts: 6 }, Reason::LateFrames { rtts: 8 }]
    );
    // 80 ms + 8 × 50 ms, whatever the clean TCP sizing says
    assert_eq!(f.c.jitter_target_us(), 480_000);
    assert_eq!(f.c.jitter_advice().rtts, 8);
}

/// A conversation's latency budget (150 ms) leaves the backlog signal little room: the
/// server skips the listener to live before audio has waited long enough to count, and the
/// next sample sees no backlog. One skip may be a single retransmission stall and changes
/// nothing; a second within seconds is a shortage and switches down at once.
#[test]
fn two_skips_to_live_within_seconds_switch_down_and_one_does_not() {
    let mut f = Feed::conversation();
    let rung = f.c.rung();
    let current = f.cost(rung);
    // the socket takes the rung's rate and nothing waits between skips
    f.send(6.0, current, 0);
    let before = f.decisions.len();
    f.c.handle_skip(8, f.now);
    f.send(4.0, current, 0);
    assert!(f.decisions[before..].iter().all(|d| d.direction == Direction::Up), "{:?}", f.decisions);
    // two skips 1 s apart
    let at = f.c.rung();
    assert!(at > 0);
    f.c.handle_skip(8, f.now);
    f.send(1.0, current, 0);
    f.c.handle_skip(8, f.now);
    f.send(0.5, current, 0);
    let d = f.decisions.last().copied().expect("a switch down");
    assert_eq!((d.direction, d.reason.code()), (Direction::Down, "lagged"), "{:?}", f.decisions);
    assert!(d.rung < at, "{d:?}");
    assert!(d.reason.to_string().contains("160 ms skipped"), "{}", d.reason);
}

/// A conversation listener on a link carrying half its rung, behind buffers that make the
/// socket's rate look like 90% of it: the backlog never reaches the congestion threshold
/// (each time 100 ms wait, the server skips to live), but what the skips threw away piled
/// up too — the switch goes two rungs down at once (its half-second span still reaches into
/// the moments before the shortage), not one.
#[test]
fn skipped_audio_counts_in_the_backlogs_growth() {
    let mut f = Feed::conversation();
    f.send(6.0, f.cost(f.c.rung()), 0);
    while f.c.rung() < LADDER.len() - 1 {
        f.send(1.0, 1.5 * f.cost(f.c.rung() + 1), 10_000);
        f.send(4.0, f.cost(f.c.rung()), 0);
    }
    let (top, start) = (f.cost(f.c.rung()), f.decisions.len());
    let mut backlog = 0;
    for _ in 0..40 {
        backlog += 25_000; // half a second of audio per second
        if backlog >= 100_000 {
            f.c.handle_skip(backlog / 20_000, f.now);
            backlog = 0;
        }
        f.send(0.05, 0.9 * top, backlog);
    }
    let d = f.decisions[start..].first().copied().expect("a switch down");
    assert_eq!((d.direction, d.reason.code()), (Direction::Down, "lagged"), "{:?}", f.decisions);
    assert!(d.rung < LADDER.len() - 2, "{d:?}: {} bit/s on a link of {}", f.cost(d.rung), 0.5 * top);
}

/// Skips right after a switch down are the old shortage draining, not a new one.
#[test]
fn skips_just_after_a_switch_down_do_not_count() {
    let mut f = Feed::conversation();
    let current = f.cost(f.c.rung());
    f.send(6.0, current, 0);
    f.c.handle_skip(8, f.now);
    f.send(1.0, current, 0);
    f.c.handle_skip(8, f.now);
    f.send(0.5, current, 0);
    let down = f.decisions.len();
    assert_eq!(f.decisions.last().map(|d| d.reason.code()), Some("lagged"));
    // two more skips within the next second and a half: the backlog of the old rung
    f.c.handle_skip(8, f.now);
    f.send(1.0, f.cost(f.c.rung()), 0);
    f.c.handle_skip(8, f.now);
    f.send(3.0, f.cost(f.c.rung()), 0);
    assert!(f.decisions[down..].iter().all(|d| d.reason.code() != "lagged"), "{:?}", f.decisions);
}

/// Seconds of pings of `rtt_us` every 250 ms and TCP samples (a retransmission at each
/// second listed in `retrans_at`), the socket taking the current rung; collects advice.
fn path_seconds(f: &mut Feed, secs: u64, rtt_us: u64, total: &mut u32, advice: &mut Vec<JitterAdvice>) {
    for _ in 0..secs {
        for _ in 0..4 {
            f.c.handle_rtt(rtt_us, f.now);
            f.send(0.25, f.cost(2), 0);
            advice.extend(f.c.poll_jitter(f.now));
        }
        let info = TcpInfo { rtt_us: rtt_us as u32, rttvar_us: 3_000, total_retrans: *total };
        f.c.handle_tcp_info(info, f.now);
        advice.extend(f.c.poll_jitter(f.now));
    }
}

/// The floor's protection is counted in round trips. When the round trip it was counted in
/// falls (a queue drained, the link recovered) the client is told the lower floor at once,
/// without waiting for a change of level; when the path gets slower it is told the higher
/// one. Moves under a fifth are not worth a message.
#[test]
fn the_floor_is_readvised_when_its_round_trip_moves() {
    let mut f = Feed::new(no_growth());
    let (mut advice, mut total) = (vec![], 0);
    // a link with a retransmission now and then: one retransmission's cover, 50 ms round trips
    path_seconds(&mut f, 6, 50_000, &mut total, &mut advice);
    total += 1;
    path_seconds(&mut f, 6, 50_000, &mut total, &mut advice);
    let level = f.c.tcp_floor().level();
    let at_50 = f.c.jitter_target_us();
    advice.clear();
    // the round trip doubles and stays (a slower path): the floor follows up
    path_seconds(&mut f, 12, 100_000, &mut total, &mut advice);
    assert_eq!(f.c.tcp_floor().level(), level);
    let up = advice.last().copied().expect("a higher floor advised");
    assert!(u64::from(up.target_ms) * 1000 >= at_50 * 6 / 5, "{advice:?} (at 50 ms: {at_50} µs)");
    // back to 50 ms: at once, down again
    advice.clear();
    path_seconds(&mut f, 1, 50_000, &mut total, &mut advice);
    assert_eq!(advice.last().map(|a| a.target_ms), Some((at_50 / 1000) as u32), "{advice:?}");
    // wobbles of a few ms: nothing
    advice.clear();
    path_seconds(&mut f, 5, 54_000, &mut total, &mut advice);
    assert!(advice.is_empty(), "{advice:?}");
}

/// Retransmissions on a path whose round trip was several times today's (a congested or
/// slower link that has recovered) are forgotten: the full protection they called for
/// steps down at once, instead of holding the listener late for the minute they are kept.
#[test]
fn a_much_faster_path_forgets_the_slower_paths_retransmissions() {
    let mut f = Feed::new(no_growth());
    let (mut advice, mut total) = (vec![], 0);
    path_seconds(&mut f, 12, 40_000, &mut total, &mut advice);
    // a slow, lossy stretch: 300 ms round trips, a retransmission every second, for longer
    // than the 10 s of round trips the controller keeps
    for _ in 0..12 {
        total += 1;
        path_seconds(&mut f, 1, 300_000, &mut total, &mut advice);
    }
    assert_eq!(f.c.tcp_floor().level(), tcp_floor::Level::Full);
    assert!(f.c.tcp_floor().recent_retrans() > 0);
    advice.clear();
    // the link recovers: 40 ms round trips again
    path_seconds(&mut f, 3, 40_000, &mut total, &mut advice);
    assert_eq!(f.c.tcp_floor().recent_retrans(), 0);
    assert!(f.c.tcp_floor().level() < tcp_floor::Level::Full);
    assert!(advice.last().is_some_and(|a| a.rtts <= 1), "{advice:?}");
}

/// After a switch down, the rate the backlog drained at is what the link carries: the
/// estimate does not grow past it (a probe above it would fail, and on a link still short
/// cost the listener a stall) until the path is seen to change or 20 s have passed.
#[test]
fn the_estimate_does_not_grow_past_a_capacity_just_measured() {
    let mut f = Feed::new(AbrConfig::default());
    f.send(10.0, f.cost(2), 0);
    // the link falls to 60 kbit/s: audio piles up, the controller measures it and goes down
    f.send(4.0, 60_000.0, 600_000);
    let down = f.decisions.iter().find(|d| d.direction == Direction::Down).copied();
    assert!(down.is_some_and(|d| f.cost(d.rung) < 60_000.0), "{:?}", f.decisions);
    let capacity = f.c.capacity_bps().expect("measured");
    // calm on the lower rung for 15 s: no probe, and no estimate above the capacity
    let rung = f.c.rung();
    f.send(15.0, f.cost(rung), 0);
    assert!(f.c.estimate_bps() <= capacity * 1.001, "{} > {capacity}", f.c.estimate_bps());
    assert_eq!(f.c.rung(), rung, "{:?}", f.decisions);
    // once the measurement is 20 s old, the estimate grows again and probes follow
    f.send(20.0, f.cost(rung), 0);
    assert!(f.c.rung() > rung, "{:?}", f.decisions);
}
