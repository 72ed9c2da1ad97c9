//! One writer thread: owns a share of the listeners' sockets and, for each page, writes it to
//! each of them with one non-blocking `write` (see [`run`] for a writer that falls behind).
//!
//! Nothing else happens per listener and page: no task, no poll, no copy, no buffer. A socket
//! whose kernel buffer cannot take the whole page keeps a reference to the page and the
//! offset reached, and is finished first at the next page; if it still cannot take it then,
//! the new page is left out for that listener (a gap it will see), so a listener that stops
//! reading never holds up the others. A write error drops the listener.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use super::pages::{Page, headers_before};
use super::stats::FloorStats;

/// The response to any request.
pub const RESPONSE_HEAD: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: audio/ogg\r\n\r\n";

/// What a writer is told.
#[derive(Debug)]
pub enum ToWriter {
    /// A new page: write it to every listener.
    Page(Page),
    /// A new listener whose request has been read; its socket is non-blocking.
    Join(TcpStream),
}

/// Runs until every sender is dropped. `first` is the page made before any listener could
/// join, so a joining listener always has a page to start with.
///
/// When a pass over the sockets takes longer than a page interval (the machine cannot keep
/// up), the pages that came meanwhile go out together, one write per listener for all of
/// them: still the least work, and what any server that keeps up with no gaps does then.
/// Listeners that joined meanwhile start on the latest of them.
pub fn run(rx: Receiver<ToWriter>, headers: Arc<[u8]>, first: Page, stats: Arc<FloorStats>) {
    let mut listeners: Vec<Listener> = Vec::new();
    let mut current = first;
    let mut fresh: Vec<Page> = Vec::new();
    let mut joins: Vec<TcpStream> = Vec::new();
    while let Ok(message) = rx.recv() {
        let mut next = Some(message);
        while let Some(m) = next.take().or_else(|| rx.try_recv().ok()) {
            match m {
                ToWriter::Page(page) => fresh.push(page),
                ToWriter::Join(stream) => joins.push(stream),
            }
        }
        if let Some(last) = fresh.last().cloned() {
            let bytes: Arc<[u8]> = if fresh.len() == 1 {
                Arc::clone(&last.bytes)
            } else {
                fresh.iter().flat_map(|p| p.bytes.iter().copied()).collect()
            };
            let mut pass = Pass { pages: fresh.len() as u64, ..Pass::default() };
            listeners.retain_mut(|l| l.send(&bytes, &mut pass));
            stats.on_pass(0, pass.closed, pass.skipped, pass.bytes);
            stats.on_coalesced(pass.pages - 1);
            current = last;
            fresh.clear();
        }
        for stream in joins.drain(..) {
            let mut listener = Listener::join(stream, &headers, &current);
            let mut pass = Pass::default();
            if listener.flush(&mut pass) != Flush::Closed {
                listeners.push(listener);
                stats.on_pass(1, 0, 0, pass.bytes);
            } else {
                stats.on_pass(1, 1, 0, pass.bytes);
            }
        }
    }
}

/// What one pass over the listeners did.
#[derive(Debug, Default)]
struct Pass {
    /// Pages in the bytes offered (more than one when the writer fell behind).
    pages: u64,
    closed: u64,
    skipped: u64,
    bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flush {
    /// Everything in flight is written.
    Done,
    /// The socket's buffer is full.
    Blocked,
    /// The connection failed; drop it.
    Closed,
}

/// One listener's socket and what is still to be written to it.
#[derive(Debug)]
struct Listener {
    stream: TcpStream,
    /// Bytes of its own: the response head, its renumbered header pages and the page it
    /// joined on (one copy per listener, once). Emptied when written.
    own: Vec<u8>,
    own_sent: usize,
    /// A shared page of which only the first `.1` bytes went out.
    rest: Option<(Arc<[u8]>, usize)>,
}

impl Listener {
    fn join(stream: TcpStream, headers: &[u8], current: &Page) -> Self {
        let mut own = RESPONSE_HEAD.to_vec();
        own.extend_from_slice(&headers_before(headers, current.sequence));
        own.extend_from_slice(&current.bytes);
        Listener { stream, own, own_sent: 0, rest: None }
    }

    /// Offers `page` (the bytes of `pass.pages` pages); returns false when the listener is to
    /// be dropped.
    fn send(&mut self, page: &Arc<[u8]>, pass: &mut Pass) -> bool {
        match self.flush(pass) {
            Flush::Done => {}
            Flush::Blocked => {
                pass.skipped += pass.pages;
                return true;
            }
            Flush::Closed => {
                pass.closed += 1;
                return false;
            }
        }
        match write_some(&mut self.stream, page) {
            Ok(n) => {
                pass.bytes += n as u64;
                if n < page.len() {
                    self.rest = Some((Arc::clone(page), n));
                }
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // nothing of this page went out: leave it out whole
                pass.skipped += pass.pages;
                true
            }
            Err(_) => {
                pass.closed += 1;
                false
            }
        }
    }

    /// Writes what is left of the listener's own bytes, then of a page in flight.
    fn flush(&mut self, pass: &mut Pass) -> Flush {
        if self.own_sent < self.own.len() {
            match write_some(&mut self.stream, &self.own[self.own_sent..]) {
                Ok(n) => {
                    pass.bytes += n as u64;
                    self.own_sent += n;
                    if self.own_sent < self.own.len() {
                        return Flush::Blocked;
                    }
                    self.own = Vec::new();
                    self.own_sent = 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Flush::Blocked,
                Err(_) => return Flush::Closed,
            }
        }
        if let Some((page, sent)) = &mut self.rest {
            match write_some(&mut self.stream, &page[*sent..]) {
                Ok(n) => {
                    pass.bytes += n as u64;
                    *sent += n;
                    if *sent < page.len() {
                        return Flush::Blocked;
                    }
                    self.rest = None;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Flush::Blocked,
                Err(_) => return Flush::Closed,
            }
        }
        Flush::Done
    }
}

/// One `write` (retried only when interrupted by a signal); a write of 0 bytes is a closed
/// connection.
fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<usize> {
    loop {
        match stream.write(bytes) {
            Ok(0) if !bytes.is_empty() => return Err(ErrorKind::WriteZero.into()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
