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
