use ondes_core::abr::ProfileRequest;
use ondes_core::abr::sim::{Adaptation, SimConfig, run};
use ondes_core::netmodel::schedule_by_name;

#[test]
#[ignore]
fn explore() {
    for name in ["3g", "wifi", "fiber", "satellite", "drop"] {
        for a in [Adaptation::Legacy, Adaptation::Adaptive(ProfileRequest::Auto)] {
            let cfg = SimConfig::new(schedule_by_name(name).unwrap(), a);
            let t = std::time::Instant::now();
            let r = run(&cfg);
            println!("{name} {a:?} ({:?}): {}", t.elapsed(), serde_json::to_string(&r).unwrap());
            println!("   underruns at {:?}", r.underrun_at_us.iter().map(|t| t / 1000).collect::<Vec<_>>());
            for d in &r.decisions {
                println!(
                    "   {:>6} ms {:?} {} -> {} kbps {} : {}",
                    d.at_us / 1000,
                    d.direction,
                    d.from_rung,
                    d.kbps,
                    d.profile,
                    d.reason
                );
            }
        }
    }
}

#[test]
#[ignore]
fn wifi_debug() {
    use ondes_core::jitter::{JitterBuffer, JitterConfig, Playout};
    use ondes_core::netmodel::{Link, Mode, Outcome};
    // feed the JB directly: 1 message (4 frames, 1312 B + 52) every 80 ms over wifi stream link
    let mut link = Link::new(schedule_by_name("wifi").unwrap(), Mode::Stream, 1);
    let mut jb =
        JitterBuffer::new(JitterConfig { min_delay_us: 60_000, ..JitterConfig::for_frame(20_000) }).unwrap();
    let mut arrivals = vec![];
    for m in 0..750u64 {
        let t = m * 80_000 + 60_000;
        if let Outcome::Delivered(d) = link.send(1364, t) {
            arrivals.push((m, d.at_us, d.retransmissions));
        }
    }
    let mut ai = 0;
    let mut last_u = 0;
    for k in 0..3000u64 {
        let now = k * 20_000;
        while ai < arrivals.len() && arrivals[ai].1 <= now {
            let (m, at, _) = arrivals[ai];
            for i in 0..4 {
                jb.insert(m * 4 + i, ((m * 4 + i) * 20_000) as i64, (), at as i64);
            }
            ai += 1;
        }
        let p = jb.poll(now as i64);
        let s = jb.stats();
        if s.underruns != last_u {
            last_u = s.underruns;
            println!(
                "{now}: {:?} target {} buffer {} delay {:?} stats {:?}",
                p,
                jb.target_us(),
                jb.buffer_us(),
                jb.delay_us(now as i64),
                s
            );
        }
    }
    for a in arrivals.iter().filter(|a| a.2 > 0) {
        println!("retx {:?}", a);
    }
}

#[test]
#[ignore]
fn lowat() {
    for lowat in [1024u64, 2048, 4096, 8192, 16384] {
        let mut cfg =
            SimConfig::new(schedule_by_name("drop").unwrap(), Adaptation::Adaptive(ProfileRequest::Auto));
        cfg.socket_lowat = lowat;
        let r = run(&cfg);
        println!(
            "lowat {lowat}: underruns {} at {:?} stalled {} reaction {:?} lat {:?}",
            r.underruns,
            r.underrun_at_us.iter().map(|t| t / 1000).collect::<Vec<_>>(),
            r.stalled_ms,
            r.reaction_ms,
            r.latency_ms
        );
    }
}

#[test]
#[ignore]
fn g3_events() {
    use ondes_core::netmodel::{Link, Mode, Outcome};
    let mut link = Link::new(schedule_by_name("3g").unwrap(), Mode::Stream, 1);
    let mut prev = 0;
    for m in 0..750u64 {
        let t = m * 80_000 + 60_000;
        if let Outcome::Delivered(d) = link.send(1364, t) {
            let transit = d.at_us - t;
            if transit > 250_000 || d.retransmissions > 0 {
                println!(
                    "t {} transit {} retx {} hol {}",
                    t / 1000,
                    transit / 1000,
                    d.retransmissions,
                    d.at_us == prev
                );
            }
            prev = d.at_us;
        }
    }
}

#[test]
#[ignore]
fn seeds() {
    use ondes_core::abr::Direction;
    for name in ["3g", "wifi", "fiber", "satellite", "drop"] {
        let mut line = String::new();
        let mut worst_ev = 0;
        let mut worst_raw = 0;
        let mut worst_react = 0.0f64;
        let mut worst_rec = 0u64;
        let mut max_sw = 0;
        let mut leg_stall = f64::MAX;
        for seed in 1..=20 {
            let mut cfg =
                SimConfig::new(schedule_by_name(name).unwrap(), Adaptation::Adaptive(ProfileRequest::Auto));
            cfg.seed = seed;
            let r = run(&cfg);
            worst_ev = worst_ev.max(r.stall_events_after(5_000_000));
            worst_raw = worst_raw.max(r.underruns_after(5_000_000));
            max_sw = max_sw.max(r.switches);
            if let Some(x) = r.reaction_ms {
                worst_react = worst_react.max(x);
            }
            if name == "drop" {
                let top = r
                    .decisions
                    .iter()
                    .filter(|d| d.at_us >= 40_000_000 && d.kbps == 128)
                    .map(|d| d.at_us)
                    .next()
                    .unwrap_or(u64::MAX);
                worst_rec = worst_rec.max(top.saturating_sub(40_000_000) / 1000);
                let mut l = cfg.clone();
                l.adaptation = Adaptation::Legacy;
                leg_stall = leg_stall.min(run(&l).stalled_ms);
            }
            let downs = r.decisions.iter().filter(|d| d.direction == Direction::Down).count();
            line +=
                &format!(" {}/{}/{}", r.underruns_after(5_000_000), r.stall_events_after(5_000_000), downs);
        }
        println!(
            "{name}: worst events {worst_ev} raw {worst_raw} react {worst_react} recovery_ms {worst_rec} max switches {max_sw} legacy min stall {leg_stall}\n   {line}"
        );
    }
}

#[test]
#[ignore]
fn one() {
    let name = std::env::var("SC").unwrap();
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    let mut cfg =
        SimConfig::new(schedule_by_name(&name).unwrap(), Adaptation::Adaptive(ProfileRequest::Auto));
    cfg.seed = seed;
    let r = run(&cfg);
    println!("underruns at {:?}", r.underrun_at_us.iter().map(|t| t / 1000).collect::<Vec<_>>());
    for d in &r.decisions {
        println!(
            "   {:>6} ms {:?} {} -> {} kbps {} : {}",
            d.at_us / 1000,
            d.direction,
            d.from_rung,
            d.kbps,
            d.profile,
            d.reason
        );
    }
}

#[test]
#[ignore]
fn fixed64() {
    for name in ["3g", "satellite"] {
        let mut line = String::new();
        for seed in 1..=20 {
            let mut cfg = SimConfig::new(schedule_by_name(name).unwrap(), Adaptation::Legacy);
            cfg.seed = seed;
            cfg.ladder_kbps = vec![64];
            let r = run(&cfg);
            line += &format!(" {}/{}", r.underruns_after(5_000_000), r.stall_events_after(5_000_000));
        }
        println!("{name} fixed 64: {line}");
    }
}
