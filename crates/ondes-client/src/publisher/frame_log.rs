//! `ondes send --frame-log FILE`: one JSON line per frame ([`SentFrame`]) — when it was
//! captured, handed to the socket and acknowledged, its size and its wait; or, for a frame
//! the publisher dropped itself, `"sent": false` and why.
//!
//! A line is written once the frame's fate is known: when the server's `ack` covering it
//! arrives (the publish protocol acknowledges every message with the highest sequence
//! queued), when its connection drops (no `ack_us`), or at once for a dropped frame. Lines
//! come out in sequence order. Writing happens on a thread of its own, so a slow disk never
//! holds up the send.

use std::collections::VecDeque;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use ondes_core::frame_trace::SentFrame;

/// The open log and the frames whose fate is not known yet.
pub struct FrameLog {
    tx: Option<mpsc::Sender<SentFrame>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    /// Frames handed over (or dropped) but not yet written, in sequence order.
    waiting: VecDeque<SentFrame>,
}

impl FrameLog {
    /// Creates (truncates) the file and starts the writer thread.
    pub fn create(path: &Path) -> std::io::Result<FrameLog> {
        let file = std::fs::File::create(path)?;
        let (tx, rx) = mpsc::channel::<SentFrame>();
        let thread = std::thread::Builder::new().name("ondes-frame-log".into()).spawn(move || {
            let mut out = BufWriter::new(file);
            for frame in rx {
                serde_json::to_writer(&mut out, &frame)?;
                out.write_all(b"\n")?;
            }
            out.flush()
        })?;
        Ok(FrameLog { tx: Some(tx), thread: Some(thread), waiting: VecDeque::new() })
    }

    /// A frame the publisher dropped itself. It waits behind frames still in flight, so
    /// that the file stays in sequence order.
    pub fn not_sent(&mut self, frame: SentFrame) {
        self.waiting.push_back(frame);
        self.release_ready();
    }

    /// A frame handed to the socket.
    pub fn sent(&mut self, frame: SentFrame) {
        self.waiting.push_back(frame);
    }

    /// The frames sent and waiting went over the server's connection `conn` (HTTP ingest
    /// learns it from the response, after the frames).
    pub fn on_connection(&mut self, conn: u64) {
        for f in self.waiting.iter_mut().filter(|f| f.sent && f.conn.is_none()) {
            f.conn = Some(conn);
        }
    }

    /// The server acknowledged every frame up to `seq` at `now_us`.
    pub fn acked(&mut self, seq: u64, now_us: i64) {
        for f in self.waiting.iter_mut().take_while(|f| f.seq <= seq) {
            if f.sent {
                f.ack_us = Some(now_us);
            }
        }
        while self.waiting.front().is_some_and(|f| f.seq <= seq) {
            if let Some(f) = self.waiting.pop_front() {
                self.write(f);
            }
        }
        self.release_ready();
    }

    /// The connection dropped: what was waiting for an ack is written without one.
    pub fn disconnected(&mut self) {
        while let Some(f) = self.waiting.pop_front() {
            self.write(f);
        }
    }

    /// Writes what is left and closes the file.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.disconnected();
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the frame log writer panicked")),
            None => Ok(()),
        }
    }

    /// Dropped frames at the front have nothing to wait for.
    fn release_ready(&mut self) {
        while self.waiting.front().is_some_and(|f| !f.sent) {
            if let Some(f) = self.waiting.pop_front() {
                self.write(f);
            }
        }
    }

    fn write(&mut self, frame: SentFrame) {
        if let Some(tx) = &self.tx
            && tx.send(frame).is_err()
        {
            // the writer thread stopped on an IO error; `finish` reports it
            self.tx = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64, sent: bool) -> SentFrame {
        SentFrame {
            seq,
            conn: Some(1),
            frame_us: 20_000,
            capture_us: 10,
            send_us: sent.then_some(20),
            ack_us: None,
            bytes: 3,
            queue_wait_ms: None,
            sent,
            why: (!sent).then(|| "fault_injection".into()),
        }
    }

    #[test]
    fn lines_come_out_in_order_with_their_acks() {
        let path = std::env::temp_dir().join(format!("ondes-frame-log-{}.jsonl", std::process::id()));
        let mut log = FrameLog::create(&path).unwrap();
        log.sent(frame(0, true));
        log.not_sent(frame(1, false));
        log.sent(frame(2, true));
        log.acked(0, 100);
        log.sent(frame(3, true));
        log.acked(2, 200);
        log.finish().unwrap(); // frame 3 never acknowledged
        let lines: Vec<SentFrame> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        std::fs::remove_file(&path).unwrap();
        let seqs: Vec<u64> = lines.iter().map(|f| f.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
        let acks: Vec<Option<i64>> = lines.iter().map(|f| f.ack_us).collect();
        assert_eq!(acks, [Some(100), None, Some(200), None]);
        assert!(!lines[1].sent);
    }
}
