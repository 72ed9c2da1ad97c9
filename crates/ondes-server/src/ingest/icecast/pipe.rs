//! A blocking `std::io::Read` fed from async code through a bounded channel of `Bytes`.
//!
//! The decoders of MP3, FLAC and Vorbis (symphonia) pull from a reader; a source's body is an
//! async stream. The body task sends chunks, the decoder thread reads them. The channel is
//! bounded, so when the decoder (and behind it the playout queue) is full, the body task waits
//! to send and stops reading the socket: TCP flow control holds the source client back.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

/// Chunks in flight between the body task and the decoder thread.
pub const PIPE_CHUNKS: usize = 8;

/// The sending half, for the async side.
pub type PipeSender = mpsc::Sender<Bytes>;

/// A new pipe.
pub fn pipe() -> (PipeSender, PipeReader) {
    let (tx, rx) = mpsc::channel(PIPE_CHUNKS);
    (tx, PipeReader { rx, current: Bytes::new(), peeked: Vec::new(), peek_pos: 0 })
}

/// The reading half; blocks the calling thread (use it on a blocking thread only). Ends (reads
/// 0) when every sender is dropped.
pub struct PipeReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
    /// Bytes read ahead by [`peek`](Self::peek), served again first.
    peeked: Vec<u8>,
    peek_pos: usize,
}

impl PipeReader {
    /// Reads ahead until at least `n` bytes are buffered (or the input ends) and returns them
    /// all, without consuming them: later reads return them again.
    pub fn peek(&mut self, n: usize) -> &[u8] {
        while self.peeked.len() - self.peek_pos < n {
            if self.current.is_empty() {
                match self.rx.blocking_recv() {
                    Some(b) => self.current = b,
                    None => break,
                }
            }
            let take = std::mem::take(&mut self.current);
            self.peeked.extend_from_slice(&take);
        }
        &self.peeked[self.peek_pos..]
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.peek_pos < self.peeked.len() {
            let n = (self.peeked.len() - self.peek_pos).min(buf.len());
            buf[..n].copy_from_slice(&self.peeked[self.peek_pos..self.peek_pos + n]);
            self.peek_pos += n;
            if self.peek_pos == self.peeked.len() {
                self.peeked = Vec::new();
                self.peek_pos = 0;
            }
            return Ok(n);
        }
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => return Ok(0),
            }
        }
        let n = self.current.len().min(buf.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeked_bytes_are_read_again_then_the_rest() {
        let (tx, mut rx) = pipe();
        let t = std::thread::spawn(move || {
            assert_eq!(rx.peek(5), b"hello world");
            let mut all = Vec::new();
            rx.read_to_end(&mut all).unwrap();
            all
        });
        tx.blocking_send(Bytes::from_static(b"hello world")).unwrap();
        tx.blocking_send(Bytes::from_static(b"!")).unwrap();
        drop(tx);
        assert_eq!(t.join().unwrap(), b"hello world!");
    }
}
