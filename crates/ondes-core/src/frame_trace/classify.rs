//! The verdict on each frame of a sender's log, given the server's traces: never sent, sent
//! late, lost on the network, delivered, or unknown (outside what the server still holds).
//!
//! Lateness is measured against the real-time schedule the log itself implies: the first
//! frame handed to the socket fixes the origin, frame `n` is due `n` frame durations later,
//! and a frame handed over more than `late_ms` after its due time was sent late. That is
//! what a listener hears as a gap when the sender falls behind, whatever the reason (a slow
//! TTS engine, a blocked event loop, backpressure).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{ConnectionTrace, SentFrame};

/// What happened to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameClass {
    /// Arrived, on time.
    Delivered,
    /// Arrived, but handed to the socket more than the threshold after its due time.
    SentLate,
    /// The sender never handed it to the socket (its log says why).
    NotSent,
    /// Sent per the log, never arrived per the server's trace.
    LostInNetwork,
    /// Sent, but the server's trace does not cover it (no trace for its connection, the
    /// ring has moved past it, or the connection is still open and it may be in flight).
    Unknown,
}

impl FrameClass {
    pub fn name(self) -> &'static str {
        match self {
            FrameClass::Delivered => "delivered",
            FrameClass::SentLate => "sent_late",
            FrameClass::NotSent => "not_sent",
            FrameClass::LostInNetwork => "lost_in_network",
            FrameClass::Unknown => "unknown",
        }
    }
}

/// The verdict on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameVerdict {
    pub seq: u64,
    pub class: FrameClass,
    /// Hand-off time minus due time, ms (sent frames only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_ms: Option<f64>,
    /// Why the sender did not send it (not-sent frames only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// What `ondes probe --sender-log` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SenderLogReport {
    pub frames: u64,
    pub late_threshold_ms: f64,
    /// Frames per class (every class present, zeros included).
    pub counts: BTreeMap<FrameClass, u64>,
    /// Not-sent frames by the reason the sender gave.
    pub not_sent_reasons: BTreeMap<String, u64>,
    /// Every frame, in sequence order.
    pub verdicts: Vec<FrameVerdict>,
}

impl SenderLogReport {
    pub fn count(&self, class: FrameClass) -> u64 {
        self.counts.get(&class).copied().unwrap_or(0)
    }

    /// Consecutive frames of one class, as `(first, last, class)`, skipping delivered ones.
    pub fn runs(&self) -> Vec<(u64, u64, FrameClass)> {
        let mut out: Vec<(u64, u64, FrameClass)> = Vec::new();
        for v in self.verdicts.iter().filter(|v| v.class != FrameClass::Delivered) {
            match out.last_mut() {
                Some((_, last, class)) if *class == v.class && *last + 1 == v.seq => *last = v.seq,
                _ => out.push((v.seq, v.seq, v.class)),
            }
        }
        out
    }

    /// A table for people: counts, then the runs of frames that did not arrive on time.
    pub fn to_table(&self, max_runs: usize) -> String {
        let mut s = format!(
            "ondes probe --sender-log: {} frame(s), late above {} ms\n",
            self.frames, self.late_threshold_ms
        );
        let pct = |n: u64| if self.frames == 0 { 0.0 } else { n as f64 * 100.0 / self.frames as f64 };
        for (class, n) in &self.counts {
            s.push_str(&format!("  {:<16} {:>8} {:>7.2} %\n", class.name(), n, pct(*n)));
        }
        for (why, n) in &self.not_sent_reasons {
            s.push_str(&format!("  not sent because {why}: {n}\n"));
        }
        let runs = self.runs();
        if !runs.is_empty() {
            s.push_str("  frames          verdict\n");
        }
        for (first, last, class) in runs.iter().take(max_runs) {
            let range = if first == last { first.to_string() } else { format!("{first}-{last}") };
            s.push_str(&format!("  {range:<15} {}\n", class.name()));
        }
        if runs.len() > max_runs {
            s.push_str(&format!("  ... {} more run(s) (--json lists every frame)\n", runs.len() - max_runs));
        }
        s
    }
}

/// What one connection's trace says arrived.
struct Arrivals {
    seqs: HashSet<u64>,
    /// The oldest sequence still in the ring, when older ones were overwritten.
    retained_from: Option<u64>,
    highest: Option<u64>,
    open: bool,
}

impl Arrivals {
    fn of(t: &ConnectionTrace) -> Self {
        let truncated = t.recorded > t.arrived.len() as u64;
        Arrivals {
            seqs: t.arrived.iter().map(|a| a.seq).collect(),
            retained_from: if truncated { t.arrived.first().map(|a| a.seq) } else { None },
            highest: t.arrived.iter().map(|a| a.seq).max(),
            open: t.open,
        }
    }

    /// Whether the trace can say that `seq` did not arrive.
    fn covers(&self, seq: u64) -> bool {
        if self.retained_from.is_some_and(|from| seq < from) {
            return false;
        }
        // past the last arrival of an open connection, the frame may still be on its way
        !(self.open && self.highest.is_none_or(|h| seq > h))
    }
}

/// Joins a sender's log with the server's traces of the connections it names. A sequence
/// number logged twice keeps its last line.
pub fn classify(log: &[SentFrame], traces: &[ConnectionTrace], late_ms: f64) -> SenderLogReport {
    let arrivals: HashMap<u64, Arrivals> = traces.iter().map(|t| (t.connection, Arrivals::of(t))).collect();
    let mut by_seq: BTreeMap<u64, &SentFrame> = BTreeMap::new();
    for f in log {
        by_seq.insert(f.seq, f);
    }
    // the schedule's origin: the first frame handed to the socket
    let origin = by_seq.values().find_map(|f| f.send_us.filter(|_| f.sent).map(|t| (f.seq, t)));
    let mut counts: BTreeMap<FrameClass, u64> = [
        FrameClass::Delivered,
        FrameClass::SentLate,
        FrameClass::NotSent,
        FrameClass::LostInNetwork,
        FrameClass::Unknown,
    ]
    .into_iter()
    .map(|c| (c, 0))
    .collect();
    let mut not_sent_reasons = BTreeMap::new();
    let mut verdicts = Vec::with_capacity(by_seq.len());
    for (&seq, f) in &by_seq {
        let verdict = if !f.sent {
            let why = f.why.clone().unwrap_or_else(|| "unspecified".into());
            *not_sent_reasons.entry(why.clone()).or_insert(0) += 1;
            FrameVerdict { seq, class: FrameClass::NotSent, late_ms: None, why: Some(why) }
        } else {
            let lateness = match (origin, f.send_us) {
                (Some((seq0, t0)), Some(t)) => {
                    let due = t0 as f64 + (seq as f64 - seq0 as f64) * f64::from(f.frame_us);
                    Some((t as f64 - due) / 1000.0)
                }
                _ => None,
            };
            let late = lateness.is_some_and(|l| l > late_ms);
            let class = match f.conn.and_then(|c| arrivals.get(&c)) {
                None => FrameClass::Unknown,
                Some(a) if a.seqs.contains(&seq) => {
                    if late {
                        FrameClass::SentLate
                    } else {
                        FrameClass::Delivered
                    }
                }
                Some(a) if a.covers(seq) => FrameClass::LostInNetwork,
                Some(_) => FrameClass::Unknown,
            };
            FrameVerdict { seq, class, late_ms: lateness, why: None }
        };
        *counts.entry(verdict.class).or_insert(0) += 1;
        verdicts.push(verdict);
    }
    SenderLogReport {
        frames: verdicts.len() as u64,
        late_threshold_ms: late_ms,
        counts,
        not_sent_reasons,
        verdicts,
    }
}

#[cfg(test)]
mod tests {
    use super::super::ArrivedFrame;
    use super::*;

    const F: u32 = 20_000;

    fn sent(seq: u64, conn: u64, send_us: i64) -> SentFrame {
        SentFrame {
            seq,
            conn: Some(conn),
            frame_us: F,
            capture_us: send_us,
            send_us: Some(send_us),
            ack_us: None,
            bytes: 100,
            queue_wait_ms: Some(0.0),
            sent: true,
            why: None,
        }
    }

    fn dropped(seq: u64, why: &str) -> SentFrame {
        SentFrame { sent: false, send_us: None, conn: None, why: Some(why.into()), ..sent(seq, 0, 0) }
    }

    fn trace(conn: u64, seqs: &[u64], open: bool, recorded: u64) -> ConnectionTrace {
        ConnectionTrace {
            connection: conn,
            stream: "voice".into(),
            kind: "publisher".into(),
            open,
            capacity: 100,
            recorded,
            arrived: seqs.iter().map(|&seq| ArrivedFrame { seq, at_us: 0, bytes: 100, gap: 0 }).collect(),
            written: Vec::new(),
        }
    }

    /// Frames 0..10 sent on time on connection 1, except those listed.
    fn log(not_sent: &[u64], late: &[u64]) -> Vec<SentFrame> {
        (0..10u64)
            .map(|seq| {
                if not_sent.contains(&seq) {
                    dropped(seq, "fault_injection")
                } else {
                    let extra = if late.contains(&seq) { 300_000 } else { 0 };
                    sent(seq, 1, 1_000_000 + seq as i64 * i64::from(F) + extra)
                }
            })
            .collect()
    }

    #[test]
    fn each_frame_lands_in_its_class() {
        // 3 never sent; 5 sent but missing at the server; 7 sent 300 ms late
        let log = log(&[3], &[7]);
        let t = trace(1, &[0, 1, 2, 4, 6, 7, 8, 9], false, 8);
        let r = classify(&log, &[t], 150.0);
        let class = |seq: usize| r.verdicts[seq].class;
        assert_eq!(class(3), FrameClass::NotSent);
        assert_eq!(class(5), FrameClass::LostInNetwork);
        assert_eq!(class(7), FrameClass::SentLate);
        assert_eq!(r.count(FrameClass::Delivered), 7);
        assert_eq!(r.not_sent_reasons["fault_injection"], 1);
        assert!((r.verdicts[7].late_ms.unwrap() - 300.0).abs() < 1e-6);
        assert_eq!(
            r.runs(),
            vec![
                (3, 3, FrameClass::NotSent),
                (5, 5, FrameClass::LostInNetwork),
                (7, 7, FrameClass::SentLate)
            ]
        );
    }

    #[test]
    fn frames_the_trace_cannot_speak_for_are_unknown() {
        let log = log(&[], &[]);
        // the ring kept only 4..=7 of 8 recorded, and the connection is open: 0..4 were
        // overwritten, 8 and 9 may still be in flight
        let t = trace(1, &[4, 5, 6, 7], true, 8);
        let r = classify(&log, &[t], 150.0);
        assert_eq!(r.count(FrameClass::Unknown), 6);
        assert_eq!(r.count(FrameClass::Delivered), 4);
        // no trace at all for the connection
        let r = classify(&log, &[], 150.0);
        assert_eq!(r.count(FrameClass::Unknown), 10);
    }

    #[test]
    fn a_closed_connection_lost_its_tail() {
        let t = trace(1, &[0, 1, 2, 3, 4, 5, 6, 7], false, 8);
        let r = classify(&log(&[], &[]), &[t], 150.0);
        assert_eq!(r.count(FrameClass::LostInNetwork), 2);
    }

    #[test]
    fn frames_are_matched_on_their_own_connection() {
        // after a reconnect, frames 5.. went on connection 2
        let mut log = log(&[], &[]);
        for f in &mut log[5..] {
            f.conn = Some(2);
        }
        let traces = [trace(1, &[0, 1, 2, 3, 4], false, 5), trace(2, &[5, 6, 8, 9], false, 4)];
        let r = classify(&log, &traces, 150.0);
        assert_eq!(r.count(FrameClass::Delivered), 9);
        assert_eq!(r.verdicts[7].class, FrameClass::LostInNetwork);
    }

    #[test]
    fn the_report_serialises_with_every_class() {
        let r = classify(&log(&[1], &[]), &[trace(1, &[0, 2, 3, 4, 5, 6, 7, 8, 9], false, 9)], 100.0);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["counts"]["not_sent"], 1);
        assert_eq!(v["counts"]["lost_in_network"], 0);
        assert_eq!(v["verdicts"][1]["class"], "not_sent");
        assert!(r.to_table(10).contains("not_sent"));
    }
}
