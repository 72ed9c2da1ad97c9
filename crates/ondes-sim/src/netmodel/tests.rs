//! Statistical checks of the link model: each effect measured over many packets.

use super::*;

fn custom(spec: &str) -> LinkParams {
    LinkParams::parse_spec(&format!("custom {spec}")).unwrap()
}

/// Sends `n` packets of `len` bytes every `gap_us`; returns the outcomes.
fn run(link: &mut Link, n: usize, len: usize, gap_us: u64) -> Vec<(u64, Outcome)> {
    (0..n as u64).map(|i| (i * gap_us, link.send(len, i * gap_us))).collect()
}

#[test]
fn same_seed_same_fate() {
    let p = LinkParams::profile("3g").unwrap();
    let a = run(&mut Link::new(p.clone(), Mode::Datagram, 9), 2000, 500, 10_000);
    let b = run(&mut Link::new(p.clone(), Mode::Datagram, 9), 2000, 500, 10_000);
    let c = run(&mut Link::new(p, Mode::Datagram, 10), 2000, 500, 10_000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn base_delay_and_jitter_mean() {
    let mut link = Link::new(custom("delay=50ms jitter=10ms"), Mode::Datagram, 1);
    // widely spaced so that the FIFO clamp never applies
    let out = run(&mut link, 20_000, 100, 1_000_000);
    let delays: Vec<u64> = out
        .iter()
        .map(|(t, o)| match o {
            Outcome::Delivered(d) => d.at_us - t,
            Outcome::Dropped(r) => panic!("lost on a lossless link: {r:?}"),
        })
        .collect();
    assert!(delays.iter().all(|d| *d >= 50_000));
    let mean = delays.iter().sum::<u64>() as f64 / delays.len() as f64;
    assert!((59_000.0..61_000.0).contains(&mean), "mean {mean}");
}

#[test]
fn random_loss_rate() {
    let mut link = Link::new(custom("loss=2%"), Mode::Datagram, 2);
    let out = run(&mut link, 100_000, 100, 1000);
    let lost = out.iter().filter(|(_, o)| matches!(o, Outcome::Dropped(DropReason::Loss { .. }))).count();
    assert!((1_800..2_200).contains(&lost), "{lost}");
    assert_eq!(link.stats().losses, lost as u64);
}

#[test]
fn gilbert_elliott_keeps_the_average_and_makes_bursts() {
    let mut link = Link::new(custom("loss=2% burst=4"), Mode::Datagram, 3);
    let out = run(&mut link, 200_000, 100, 1000);
    let lost: Vec<bool> = out.iter().map(|(_, o)| matches!(o, Outcome::Dropped(_))).collect();
    let total = lost.iter().filter(|l| **l).count();
    let bursts = lost.windows(2).filter(|w| w[1] && !w[0]).count();
    let rate = total as f64 / lost.len() as f64;
    let mean_burst = total as f64 / bursts as f64;
    assert!((0.017..0.023).contains(&rate), "rate {rate}");
    assert!((3.5..4.5).contains(&mean_burst), "mean burst {mean_burst}");
    assert_eq!(link.stats().burst_losses, total as u64);
}

#[test]
fn bandwidth_cap_and_drop_tail() {
    // 1 Mbit/s, 10 kB buffer, offered 2 Mbit/s: half gets through, the rest is dropped
    let mut link = Link::new(custom("bw=1mbps queue=10kb"), Mode::Datagram, 4);
    let out = run(&mut link, 10_000, 1000, 4_000); // 1000 B every 4 ms = 2 Mbit/s, 40 s
    let delivered: Vec<u64> = out
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Delivered(d) => Some(d.at_us),
            _ => None,
        })
        .collect();
    let drops = link.stats().queue_drops;
    assert_eq!(drops as usize + delivered.len(), 10_000);
    let last = *delivered.last().unwrap();
    let rate = delivered.len() as f64 * 8000.0 / (last as f64 / 1e6);
    assert!((0.98e6..1.01e6).contains(&rate), "throughput {rate}");
    // the queue never holds more than its limit: delay ≤ 10 kB at 1 Mbit/s + one packet
    assert!(out.iter().all(|(t, o)| match o {
        Outcome::Delivered(d) => d.at_us - t <= 88_000,
        _ => true,
    }));
}

#[test]
fn reordering_only_for_held_back_packets() {
    let mut link = Link::new(custom("delay=10ms reorder=5% reorder_delay=20ms"), Mode::Datagram, 5);
    let out = run(&mut link, 10_000, 100, 5_000);
    let at: Vec<u64> = out
        .iter()
        .map(|(_, o)| match o {
            Outcome::Delivered(d) => d.at_us,
            _ => unreachable!(),
        })
        .collect();
    let overtaken = at.windows(2).filter(|w| w[1] < w[0]).count();
    let held = link.stats().reordered as usize;
    assert!((400..600).contains(&held), "{held}");
    assert!(overtaken > held * 8 / 10 && overtaken <= held, "overtaken {overtaken}, held {held}");
}

#[test]
fn stream_mode_turns_loss_into_in_order_delay() {
    let p = custom("delay=20ms loss=10%");
    let penalty = p.retransmit_penalty_us();
    assert_eq!(penalty, 50_000);
    let mut link = Link::new(p, Mode::Stream, 6);
    let out = run(&mut link, 20_000, 100, 200_000);
    let mut late = 0;
    let mut last = 0;
    for (t, o) in &out {
        let Outcome::Delivered(d) = o else { panic!("stream mode lost a segment") };
        assert!(d.at_us >= last, "out of order");
        last = d.at_us;
        if d.retransmissions > 0 {
            late += 1;
            assert!(d.at_us - t >= 20_000 + penalty);
        }
    }
    assert!((1_800..2_200).contains(&late), "{late}");
    assert_eq!(link.stats().retransmissions as usize, link.stats().losses as usize);
}

#[test]
fn head_of_line_blocking_in_stream_mode() {
    // one segment every ms; a loss holds back those behind it
    let mut link = Link::new(custom("delay=20ms loss=1%"), Mode::Stream, 7);
    let out = run(&mut link, 5_000, 100, 1_000);
    let held_behind = out
        .windows(2)
        .filter(|w| match (w[0].1, w[1].1) {
            (Outcome::Delivered(a), Outcome::Delivered(b)) => b.retransmissions == 0 && b.at_us == a.at_us,
            _ => false,
        })
        .count();
    assert!(held_behind > 100, "{held_behind}");
}

#[test]
fn room_at_predicts_when_the_buffer_drains() {
    let mut link = Link::new(custom("bw=100kbps queue=5kb"), Mode::Stream, 8);
    let mut now = 0;
    while link.has_room(1000, now) {
        link.send(1000, now);
    }
    assert!(!link.has_room(1000, now));
    let t = link.room_at(1000, now).unwrap();
    assert!(t > now);
    assert!(link.has_room(1000, t));
    assert!(!link.has_room(1000, t - 1_000));
    now = t;
    link.send(1000, now);
    assert_eq!(link.stats().queue_drops, 0);
}

#[test]
fn rate_drop_slows_a_queued_packet() {
    let s = parse_script("1s custom bw=1mbps\n1s custom bw=64kbps").unwrap();
    let mut link = Link::new(s, Mode::Datagram, 9);
    let Outcome::Delivered(d) = link.send(8_000, 1_000_000) else { panic!() };
    assert_eq!(d.at_us, 2_000_000);
}
