//! A WebSocket listener as a feed writer drives it: its session, what its client sends
//! (reports, pings, pongs, closes — parsed by [`super::ws_frame`] when the socket has
//! something, never per frame), and its timers (keep-alive pings; for `rung=auto`, the
//! adaptation's tick, the pings that measure the round trip, and the samples of the
//! connection's TCP state that size the client's jitter floor).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::session::ListenerSession;
use super::tcp_info;
use super::writer::{MAX_SLICES, WriterSession};
use super::ws::{WsTransport, abr_update};
use super::ws_frame::{self, ClientFrames, ClientMessage};

/// How often the adaptation is fed what the sending side sees.
const ABR_TICK: Duration = Duration::from_millis(100);
/// How often a round-trip ping is sent to an adaptive listener.
const ABR_PING: Duration = Duration::from_millis(250);

pub struct WsDriven {
    session: ListenerSession<WsTransport>,
    input: ClientFrames,
    heartbeat: Duration,
    next_heartbeat: Instant,
    next_abr_tick: Instant,
    next_abr_ping: Instant,
    next_tcp_info: Instant,
    abr_ticks: u64,
    close_sent: bool,
}

impl WsDriven {
    /// `max_message`: the largest message the client may send (larger closes the connection).
    pub fn new(session: ListenerSession<WsTransport>, heartbeat: Duration, max_message: usize) -> Self {
        let now = Instant::now();
        WsDriven {
            session,
            input: ClientFrames::new(max_message),
            heartbeat,
            next_heartbeat: now + heartbeat,
            next_abr_tick: now + ABR_TICK,
            // the first round trip is measured at once, before audio fills the socket's buffers
            next_abr_ping: now,
            next_tcp_info: now,
            abr_ticks: 0,
            close_sent: false,
        }
    }

    fn reply(&mut self, frame: bytes::Bytes) {
        self.session.egress.push_control_now(frame);
    }
}

impl WriterSession for WsDriven {
    fn update(&mut self) {
        // nothing queued before this update: the socket took all it was given
        let kept_up = self.session.egress.is_idle();
        self.session.update();
        if self.session.transport.is_adaptive() {
            abr_update(&mut self.session, kept_up);
        }
        if self.session.is_finished() && !self.close_sent {
            // the last notice is out: say goodbye properly
            self.close_sent = true;
            self.reply(ws_frame::frame(ws_frame::CLOSE, &1000u16.to_be_bytes()));
        }
    }

    fn transmit<'a>(&'a self, out: &mut [&'a [u8]; MAX_SLICES]) -> usize {
        self.session.egress.poll_transmit_slices(out)
    }

    fn written(&mut self, n: usize) {
        self.session.written(n);
        self.session.transport.written_bytes += n as u64;
    }

    fn is_finished(&self) -> bool {
        self.close_sent && self.session.is_finished()
    }

    fn more_ready(&self) -> bool {
        self.session.more_ready()
    }

    fn socket(&mut self, tcp: &tokio::net::TcpStream, now: Instant) {
        if !self.session.transport.is_adaptive() || now < self.next_tcp_info {
            return;
        }
        self.next_tcp_info = now + tcp_info::SAMPLE_EVERY;
        if let Some(info) = tcp_info::sample_stream(tcp) {
            self.session.transport.handle_tcp_info(info);
        }
    }

    fn tick(&mut self, now: Instant) -> bool {
        if now >= self.next_heartbeat {
            self.next_heartbeat = now + self.heartbeat;
            self.session.guard.info.last_heartbeat_ms.store(crate::clock::now_ms(), Ordering::Relaxed);
            self.reply(ws_frame::frame(ws_frame::PING, &[]));
        }
        if !self.session.transport.is_adaptive() {
            return !self.session.egress.is_idle();
        }
        if now >= self.next_abr_tick {
            self.next_abr_tick = now + ABR_TICK;
            let kept_up = self.session.egress.is_idle();
            abr_update(&mut self.session, kept_up);
            self.abr_ticks += 1;
            if self.abr_ticks.is_multiple_of(10) {
                self.session.transport.publish_abr();
            }
        }
        // a round trip is measured from an empty queue: a ping behind queued audio would
        // measure the queue (the controller sees that through the backlog already)
        if now >= self.next_abr_ping && self.session.egress.is_idle() {
            self.next_abr_ping = now + ABR_PING;
            let t = self.session.transport.session_time();
            self.reply(ws_frame::frame(ws_frame::PING, &t.to_le_bytes()));
        }
        // an adaptive listener's controller may have moved it: its session follows now
        true
    }

    fn input(&mut self, bytes: &[u8]) -> bool {
        if self.input.feed(bytes).is_err() {
            return false;
        }
        loop {
            match self.input.pop() {
                Ok(None) => return true,
                Err(_) | Ok(Some(ClientMessage::Close)) => return false,
                Ok(Some(ClientMessage::Text(t))) => {
                    let reply = match std::str::from_utf8(&t) {
                        Ok(text) => self.session.transport.client_text(text),
                        Err(_) => return false, // RFC 6455 §8.1: invalid UTF-8 fails the connection
                    };
                    if let Some(r) = reply {
                        self.reply(r);
                    }
                }
                Ok(Some(ClientMessage::Pong(p))) if p.len() == 8 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&p);
                    self.session.transport.handle_pong(u64::from_le_bytes(b));
                }
                Ok(Some(ClientMessage::Pong(_))) => {}
                Ok(Some(ClientMessage::Ping(p))) => self.reply(ws_frame::frame(ws_frame::PONG, &p)),
                Ok(Some(ClientMessage::Binary(_))) => {
                    let r = self.session.transport.unexpected_binary();
                    self.reply(r);
                }
            }
        }
    }
}
