//! The human table of a [`CodecBenchReport`](super::CodecBenchReport).

use std::fmt::Write;

use super::CodecBenchReport;

/// Renders the report as plain-text tables, one per measurement.
pub fn render_table(r: &CodecBenchReport) -> String {
    let mut s = String::new();
    // writing to a String cannot fail
    let _ = write_all(&mut s, r);
    s
}

fn write_all(s: &mut String, r: &CodecBenchReport) -> std::fmt::Result {
    writeln!(s, "CPU per 20 ms frame, whole ladder (48 kHz; speech mono, music stereo)")?;
    writeln!(
        s,
        "{:<8} {:<7} {:>3} {:>26} {:>10} {:>8} {:>10} {:>9}",
        "engine", "ladder", "cx", "rungs kbit/s", "enc µs", "% core", "dec µs", "kbit/s"
    )?;
    for c in &r.cpu {
        let rungs = c.rungs_kbps.iter().map(u32::to_string).collect::<Vec<_>>().join("/");
        writeln!(
            s,
            "{:<8} {:<7} {:>3} {:>26} {:>10.1} {:>7.2}% {:>10.1} {:>9.1}",
            c.engine,
            c.ladder,
            c.complexity,
            rungs,
            c.encode_us_per_frame,
            c.encode_core_fraction * 100.0,
            c.decode_us_per_frame,
            c.kbps_out
        )?;
    }
    writeln!(s, "\nQuality per rung against the source (own decoder)")?;
    writeln!(
        s,
        "{:<8} {:<7} {:>5} {:>3} {:>8} {:>8} {:>7} {:>8}",
        "engine", "signal", "kbit", "cx", "out", "SNR dB", "corr", "LSD dB"
    )?;
    for q in &r.quality {
        writeln!(
            s,
            "{:<8} {:<7} {:>5} {:>3} {:>8.1} {:>8.2} {:>7.3} {:>8.2}",
            q.engine,
            q.signal,
            q.kbps,
            q.complexity,
            q.kbps_out,
            q.quality.snr_db,
            q.quality.correlation,
            q.quality.lsd_db
        )?;
    }
    writeln!(s, "\nRandom loss, speech 48 kHz mono 32 kbit/s voip, FEC on, expected loss = actual")?;
    writeln!(
        s,
        "{:<8} {:>5} {:>6} {:>10} {:>12} {:>12} {:>14} {:>14}",
        "engine",
        "loss",
        "lost",
        "rebuilt",
        "lost SNR FEC",
        "lost SNR PLC",
        "stream LSD FEC",
        "stream LSD PLC"
    )?;
    for l in &r.loss {
        writeln!(
            s,
            "{:<8} {:>4}% {:>6} {:>4} {:>4.0}% {:>12.2} {:>12.2} {:>14.2} {:>14.2}",
            l.engine,
            l.loss_percent,
            l.lost,
            l.recovered,
            l.recovered_percent,
            l.lost_snr_db_fec,
            l.lost_snr_db_plc,
            l.stream_fec.lsd_db,
            l.stream_plc.lsd_db
        )?;
    }
    writeln!(s, "\nDTX, speech with two 1.5 s pauses, 48 kHz mono voip")?;
    writeln!(
        s,
        "{:<8} {:>5} {:>10} {:>10} {:>7} {:>12} {:>10} {:>10}",
        "engine", "kbit", "off kbit/s", "on kbit/s", "saved", "empty pkts", "LSD off", "LSD on"
    )?;
    for d in &r.dtx {
        writeln!(
            s,
            "{:<8} {:>5} {:>10.1} {:>10.1} {:>6.1}% {:>5}/{:<6} {:>10.2} {:>10.2}",
            d.engine,
            d.kbps,
            d.kbps_without_dtx,
            d.kbps_with_dtx,
            d.bytes_saved_percent,
            d.empty_packets,
            d.packets,
            d.quality_without_dtx.lsd_db,
            d.quality_with_dtx.lsd_db
        )?;
    }
    writeln!(s, "\nFrame durations, music, 64 kbit/s per channel, complexity 10")?;
    writeln!(
        s,
        "{:<8} {:>7} {:>3} {:>8} {:>8} {:>7} {:>8} {:>10}",
        "engine", "frame", "ch", "kbit/s", "SNR dB", "corr", "LSD dB", "enc ms/s"
    )?;
    for f in &r.frames {
        match (&f.quality, &f.refused) {
            (Some(q), _) => writeln!(
                s,
                "{:<8} {:>5.1}ms {:>3} {:>8.1} {:>8.2} {:>7.3} {:>8.2} {:>10.1}",
                f.engine,
                f64::from(f.frame_us) / 1000.0,
                f.channels,
                f.kbps_out,
                q.snr_db,
                q.correlation,
                q.lsd_db,
                f.encode_ms_per_s
            )?,
            (None, reason) => writeln!(
                s,
                "{:<8} {:>5.1}ms {:>3} refused: {}",
                f.engine,
                f64::from(f.frame_us) / 1000.0,
                f.channels,
                reason.as_deref().unwrap_or("?")
            )?,
        }
    }
    writeln!(s, "\nInterop (files through the reference tools)")?;
    writeln!(
        s,
        "{:<8} {:<18} {:<7} {:>8} {:>7} {:>8}",
        "engine", "path", "signal", "SNR dB", "corr", "LSD dB"
    )?;
    for i in &r.interop {
        writeln!(
            s,
            "{:<8} {:<18} {:<7} {:>8.2} {:>7.3} {:>8.2}",
            i.engine, i.path, i.signal, i.quality.snr_db, i.quality.correlation, i.quality.lsd_db
        )?;
    }
    Ok(())
}
