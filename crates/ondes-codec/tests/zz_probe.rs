mod common;
use common::*;
use ondes_codec::opus::*;
#[test]
fn probe_fec() {
    for (rate, ch, br, loss, vbr) in [
        (16000u32, 1u16, 24000u32, 20u8, true),
        (16000, 1, 24000, 20, false),
        (16000, 1, 32000, 50, true),
        (16000, 1, 16000, 20, true),
    ] {
        let cfg = OpusConfig {
            sample_rate: rate,
            channels: ch,
            bitrate_bps: br,
            application: OpusApplication::Voip,
            fec: true,
            expected_loss_percent: loss,
            vbr,
            ..Default::default()
        };
        let pcm = source(rate, ch);
        let packets = encode_all(&cfg, &pcm);
        let frame = cfg.frame_samples();
        let clean = decode_all(&packets, rate, ch);
        let la = 104usize;
        let mut line = String::new();
        let (mut tf, mut tp, mut ts, mut tcf, mut tcp) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for k in 5..95 {
            let mut a = OpusDecoder::new(rate, ch).unwrap();
            let mut b = OpusDecoder::new(rate, ch).unwrap();
            let (mut oa, mut ob) = (Vec::new(), Vec::new());
            for p in &packets[..k] {
                a.decode(p, &mut oa).unwrap();
                b.decode(p, &mut ob).unwrap();
            }
            a.decode_fec(&packets[k + 1], frame, &mut oa).unwrap();
            b.conceal(frame, &mut ob).unwrap();
            let r = k * frame..(k + 1) * frame;
            let sig: f64 = r.clone().map(|i| if i >= la { (pcm[i - la] as f64).powi(2) } else { 0.0 }).sum();
            let ef: f64 = r
                .clone()
                .map(|i| if i >= la { (pcm[i - la] - oa[i]) as f64 } else { 0.0 })
                .map(|x| x * x)
                .sum();
            let ep: f64 = r
                .clone()
                .map(|i| if i >= la { (pcm[i - la] - ob[i]) as f64 } else { 0.0 })
                .map(|x| x * x)
                .sum();
            let ecf: f64 = r.clone().map(|i| (clean[i] - oa[i]) as f64).map(|x| x * x).sum();
            let ecp: f64 = r.clone().map(|i| (clean[i] - ob[i]) as f64).map(|x| x * x).sum();
            tf += ef;
            tp += ep;
            ts += sig;
            tcf += ecf;
            tcp += ecp;
            let same = oa == ob;
            line += &format!(
                "{k}:{}{:.1}/{:.1} ",
                if same { "=" } else { "" },
                10.0 * (sig / ef.max(1e-12)).log10(),
                10.0 * (sig / ep.max(1e-12)).log10()
            );
        }
        println!(
            "{rate} {br} loss {loss} vbr {vbr} sizes {:?}\n{line}\nTOTAL snr fec {:.2} dB plc {:.2} dB; vs clean: fec {:.2} plc {:.2}",
            packets.iter().map(|p| p.len()).collect::<Vec<_>>(),
            10.0 * (ts / tf).log10(),
            10.0 * (ts / tp).log10(),
            10.0 * (ts / tcf).log10(),
            10.0 * (ts / tcp).log10()
        );
    }
}
