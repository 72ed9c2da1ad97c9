//! Adaptive streaming in simulated time: the controller, the link model and the client's
//! jitter buffer together, on every link profile and on the `drop` script (Wi-Fi, 20 s at
//! 64 kbit/s, Wi-Fi again). Each run is a minute of streaming in a few milliseconds of CPU,
//! the same every time for a seed.
//!
//! "Underruns" are the jitter buffer's underrun episodes. When arrivals run slower than
//! real time the buffer rebuffers instead of resuming with each frame that trickles in (see
//! `ondes_core::jitter`), so a drop in link rate is one underrun, not a dozen short ones.

use ondes_core::abr::{AbrConfig, DEFAULT_LADDER_KBPS, Direction, ProfileName, ProfileRequest};
use ondes_sim::abr::{Adaptation, SimConfig, SimResult, run};
use ondes_sim::netmodel::{SCENARIO_NAMES, schedule_by_name};

const SETTLE_US: u64 = 5_000_000;
const DROP_AT_US: u64 = 20_000_000;
const RECOVER_AT_US: u64 = 40_000_000;

fn sim(scenario: &str, adaptation: Adaptation, seed: u64) -> SimResult {
    let mut cfg = SimConfig::new(schedule_by_name(scenario).unwrap(), adaptation);
    cfg.seed = seed;
    run(&cfg)
}

fn adaptive(scenario: &str, seed: u64) -> SimResult {
    sim(scenario, Adaptation::Adaptive(ProfileRequest::Auto), seed)
}

fn top_kbps() -> u32 {
    *DEFAULT_LADDER_KBPS.last().unwrap()
}

#[test]
fn at_most_one_underrun_per_minute_after_the_first_five_seconds() {
    for scenario in SCENARIO_NAMES {
        for seed in 1..=5 {
            let r = adaptive(scenario, seed);
            let minutes = (r.duration_s - SETTLE_US as f64 / 1e6) / 60.0;
            let events = r.underruns_after(SETTLE_US);
            assert!(
                events as f64 <= minutes.ceil(),
                "{scenario} seed {seed}: {events} underruns after 5 s (underruns at {:?} ms; switches {:?})",
                r.underrun_at_us.iter().map(|t| t / 1000).collect::<Vec<_>>(),
                r.decisions.iter().map(|d| (d.at_us / 1000, d.kbps, d.reason.code())).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn the_rate_holds_over_twenty_seeds() {
    for scenario in SCENARIO_NAMES {
        let (mut events, mut minutes) = (0usize, 0.0f64);
        for seed in 1..=20 {
            let r = adaptive(scenario, seed);
            events += r.underruns_after(SETTLE_US);
            minutes += (r.duration_s - SETTLE_US as f64 / 1e6) / 60.0;
        }
        let rate = events as f64 / minutes;
        assert!(rate <= 1.0, "{scenario}: {rate:.2} underruns per minute over 20 seeds");
    }
}

#[test]
fn clean_links_never_underrun() {
    for scenario in ["wifi", "fiber"] {
        for seed in 1..=5 {
            let r = adaptive(scenario, seed);
            assert_eq!(r.underruns_after(SETTLE_US), 0, "{scenario} seed {seed}");
            assert_eq!(r.final_kbps, top_kbps(), "{scenario} seed {seed}: should end on the top rung");
        }
    }
}

#[test]
fn the_break_up_at_a_drop_is_confined_to_its_first_three_seconds() {
    for seed in 1..=5 {
        let r = adaptive("drop", seed);
        let late: Vec<u64> = r.underrun_at_us.iter().copied().filter(|t| *t >= SETTLE_US).collect();
        assert!(
            late.iter().all(|t| (DROP_AT_US..DROP_AT_US + 3_000_000).contains(t)),
            "seed {seed}: underruns at {late:?}"
        );
    }
}

#[test]
fn switches_down_within_two_seconds_of_a_drop_to_a_rung_that_fits() {
    for seed in 1..=5 {
        let r = adaptive("drop", seed);
        let reaction = r.reaction_ms.expect("no switch down after the drop");
        assert!(reaction <= 2000.0, "seed {seed}: reacted after {reaction} ms");
        let first = r.decisions.iter().find(|d| d.at_us >= DROP_AT_US).unwrap();
        assert_eq!(first.direction, Direction::Down);
        // 64 kbit/s on the link: the 64 kbit/s rung (~70 kbit/s with headers) does not fit
        assert!(first.kbps <= 32, "seed {seed}: first switch to {} kbit/s", first.kbps);
    }
}

#[test]
fn never_more_than_one_change_per_interval() {
    let interval = AbrConfig::default().interval_us;
    for scenario in SCENARIO_NAMES {
        for seed in 1..=10 {
            let r = adaptive(scenario, seed);
            for w in r.decisions.windows(2) {
                assert!(
                    w[1].at_us - w[0].at_us >= interval,
                    "{scenario} seed {seed}: changes at {} ms and {} ms",
                    w[0].at_us / 1000,
                    w[1].at_us / 1000
                );
            }
        }
    }
}

#[test]
fn back_on_the_top_rung_within_fifteen_seconds_of_recovery() {
    for seed in 1..=10 {
        let r = adaptive("drop", seed);
        let top = r
            .decisions
            .iter()
            .find(|d| d.at_us >= RECOVER_AT_US && d.kbps == top_kbps())
            .unwrap_or_else(|| panic!("seed {seed}: never back on top: {:?}", r.decisions));
        assert!(top.at_us <= RECOVER_AT_US + 15_000_000, "seed {seed}: top again at {} ms", top.at_us / 1000);
        // and it stays there
        assert!(r.decisions.iter().all(|d| d.at_us <= top.at_us || d.direction == Direction::Up));
        assert_eq!(r.final_kbps, top_kbps());
    }
}

#[test]
fn the_legacy_setting_stalls_on_the_same_drop() {
    for seed in 1..=5 {
        let legacy = sim("drop", Adaptation::Legacy, seed);
        let adaptive = adaptive("drop", seed);
        assert_eq!(legacy.switches, 0);
        assert!(legacy.stalled_ms >= 2_000.0, "seed {seed}: legacy stalled only {} ms", legacy.stalled_ms);
        assert!(
            legacy.underruns_after(SETTLE_US) >= 2,
            "seed {seed}: {} underruns",
            legacy.underruns_after(SETTLE_US)
        );
        assert!(
            legacy.stalled_ms >= 3.0 * adaptive.stalled_ms,
            "seed {seed}: legacy stalled {} ms, adaptive {} ms",
            legacy.stalled_ms,
            adaptive.stalled_ms
        );
        // once its buffer is at its ceiling, the server's skips ahead to live show as gaps
        // the client conceals: audio lost for the whole low-rate period
        assert!(legacy.skipped_frames >= 200, "seed {seed}: legacy skipped {}", legacy.skipped_frames);
        assert!(legacy.concealed_ms >= 5_000.0, "seed {seed}: legacy concealed {} ms", legacy.concealed_ms);
        assert_eq!(adaptive.skipped_frames, 0, "seed {seed}");
        assert!(adaptive.stalled_ms * 2.0 < legacy.stalled_ms, "seed {seed}");
        assert!(adaptive.concealed_ms * 3.0 < legacy.concealed_ms, "seed {seed}");
    }
}

#[test]
fn adaptation_costs_little_where_the_link_is_good() {
    for scenario in ["wifi", "fiber"] {
        let legacy = sim(scenario, Adaptation::Legacy, 1);
        let adaptive = adaptive(scenario, 1);
        // the ramp from the start rung costs a few seconds of the top bitrate
        assert!(adaptive.avg_bitrate_kbps > 0.9 * legacy.avg_bitrate_kbps, "{scenario}");
        assert!(adaptive.latency_ms.p95 <= legacy.latency_ms.p95 + 20.0, "{scenario}");
    }
}

#[test]
fn same_seed_same_run() {
    let a = adaptive("3g", 7);
    let b = adaptive("3g", 7);
    let c = adaptive("3g", 8);
    assert_eq!(a.decisions, b.decisions);
    assert_eq!(a.underrun_at_us, b.underrun_at_us);
    assert_eq!(a.latency_ms, b.latency_ms);
    assert!(a.latency_ms != c.latency_ms || a.underrun_at_us != c.underrun_at_us);
}

#[test]
fn efficiency_is_at_least_95_percent_except_on_satellite() {
    for scenario in SCENARIO_NAMES.iter().filter(|s| **s != "satellite") {
        for seed in 1..=3 {
            let r = adaptive(scenario, seed);
            assert!(r.efficiency_percent >= 95.0, "{scenario} seed {seed}: {:.1}%", r.efficiency_percent);
            // TCP/IP headers and retransmissions come on top, never the other way round
            assert!(r.link_efficiency_percent < r.efficiency_percent, "{scenario} seed {seed}");
        }
    }
}

/// A 1.5 s outage on a good 3g link (a loss burst whose retransmissions are lost again looks
/// like this over TCP) costs the stall every setting suffers, and not half a minute pinned
/// low: the first version probed up again only 34 s after the outage (it counted as two
/// failed probes, and the capacity measured during it barred probes for a minute).
///
/// Besides the outage's own stall, the link's usual budget (at most one a minute) applies:
/// once the buffer has given back the delay the outage left, a retransmission on this lossy
/// link may stall it as it would have before the outage (seed 1 does at 38 s). Before the
/// delay drained after a faster path, the outage's delay stayed for half a minute and hid it.
#[test]
fn a_short_outage_does_not_pin_the_listener_low() {
    let script = "8s 3g\n1500ms 3g bw=8kbps\n60s 3g\n";
    let outage_end = 9_500_000;
    let mut on_top_soon = 0;
    for seed in 1..=5 {
        let mut cfg = SimConfig::new(
            ondes_sim::netmodel::parse_script(script).unwrap(),
            Adaptation::Adaptive(ProfileRequest::Auto),
        );
        cfg.seed = seed;
        let r = run(&cfg);
        let log =
            || r.decisions.iter().map(|d| (d.at_us / 1000, d.kbps, d.reason.code())).collect::<Vec<_>>();
        let up = r.decisions.iter().find(|d| d.at_us > outage_end && d.direction == Direction::Up);
        let up = up.unwrap_or_else(|| panic!("seed {seed}: never up again: {:?}", log()));
        assert!(
            up.at_us <= outage_end + 15_000_000,
            "seed {seed}: first up at {} ms: {:?}",
            up.at_us / 1000,
            log()
        );
        let top = r.decisions.iter().find(|d| d.at_us > outage_end && d.kbps == top_kbps());
        on_top_soon += usize::from(top.is_some_and(|d| d.at_us <= outage_end + 25_000_000));
        let outage = (8_000_000..outage_end + 3_000_000).contains(&r.underrun_at_us[0]);
        let others = r.underrun_at_us.iter().filter(|t| **t >= outage_end + 3_000_000).count();
        assert!(outage && others <= 1, "seed {seed}: {:?}", r.underrun_at_us);
    }
    // a later probe may meet a false queue signal on this lossy link and back off
    assert!(on_top_soon >= 4, "only {on_top_soon} of 5 seeds on the top rung within 25 s");
}

/// The delay a drop leaves behind drains once the link is back: the listener plays the
/// excess faster (pitch kept) and forgets the spikes of the congestion episode, instead of
/// holding them for the peak memory and decaying at 2%. At first the last ten seconds
/// averaged 1.16–1.37 s on these seeds; then 0.35–0.65 s; since the buffer drains after a
/// faster path (and the server re-advises a floor counted in queued round trips), 0.13–0.27 s.
#[test]
fn the_delay_left_by_a_drop_drains_after_recovery() {
    for seed in 1..=20 {
        let r = adaptive("drop", seed);
        let by_second = &r.latency_by_second_ms;
        let peak = by_second.iter().copied().fold(0.0, f64::max);
        let last10 = &by_second[by_second.len() - 10..];
        let end = last10.iter().sum::<f64>() / last10.len() as f64;
        assert!(
            end <= 350.0,
            "seed {seed}: {end:.0} ms over the last 10 s (peak {peak:.0} ms): {by_second:?}"
        );
        assert!(r.underruns_after(SETTLE_US) <= 1, "seed {seed}: {:?}", r.underrun_at_us);
    }
}

/// Recovery within seconds: after a 10 s drop in capacity that recovers, the
/// listener's latency is back within 20% of where it was before the drop (and stays there
/// for 5 s) within 3 s of the link coming back — on 20 seeds, with every profile. What does
/// it: the buffer takes the fall of the fastest transit back to the path it had before for
/// a faster path, drops the slower path's frames (and its queue's) from its estimate,
/// restarts its target at its calm level of before and drains the rest by playing faster;
/// the server re-advises the jitter floor once the round trip it is counted in has fallen,
/// and forgets the retransmissions of the slower path.
#[test]
fn after_a_ten_second_drop_the_latency_is_back_within_seconds() {
    let script = "20s wifi\n10s custom bw=64kbps delay=50ms loss=1%\n35s wifi\n";
    let fixed = ProfileName::ALL.map(ProfileRequest::Fixed);
    for request in std::iter::once(ProfileRequest::Auto).chain(fixed) {
        for seed in 1..=20 {
            let mut cfg = SimConfig::new(
                ondes_sim::netmodel::parse_script(script).unwrap(),
                Adaptation::Adaptive(request),
            );
            cfg.seed = seed;
            let r = run(&cfg);
            assert_eq!(r.link_back_at_s, Some(30.0));
            let ms = r.recover_ms;
            assert!(ms.is_some_and(|ms| ms <= 3_000.0), "{request:?} seed {seed}: recovered after {ms:?} ms");
        }
    }
}
