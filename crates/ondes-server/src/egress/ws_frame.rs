//! WebSocket framing (RFC 6455 §5) for listeners served by the feed writers: server frames
//! are made here (unmasked, so the same bytes go to every listener of a key), and what a
//! client sends is parsed here without IO. Handshakes of connections served by hyper, and
//! their frames, are tungstenite's.

use bytes::{Buf, Bytes, BytesMut};

/// Opcodes (RFC 6455 §5.2).
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;
const CONTINUATION: u8 = 0x0;

/// A whole unmasked server frame (FIN set) with `payload`.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(n as u8),
        n @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// A message from the client, unmasked and reassembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    Text(Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    Close,
}

/// Why a client's input ends its connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a client frame must be masked (RFC 6455 §5.1)")]
    Unmasked,
    #[error("a message of more than {0} bytes")]
    TooLarge(usize),
    #[error("a malformed frame (opcode {0:#x})")]
    Malformed(u8),
}

/// Parses a client's frames from bytes as they arrive. Holds at most one message of
/// `max_message` bytes: a larger one is an error, and nothing more of it is kept.
#[derive(Debug)]
pub struct ClientFrames {
    buf: BytesMut,
    /// A fragmented message being reassembled: its opcode and the payload so far.
    partial: Option<(u8, BytesMut)>,
    max_message: usize,
}

impl ClientFrames {
    pub fn new(max_message: usize) -> Self {
        ClientFrames { buf: BytesMut::new(), partial: None, max_message }
    }

    /// Adds bytes read from the socket.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        // a frame's header is at most 14 bytes; more than one message's worth buffered means
        // a frame claims too much
        if self.buf.len() + bytes.len() > self.max_message + 14 + 2 * 131 {
            return Err(FrameError::TooLarge(self.max_message));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next whole message, if one has arrived.
    pub fn pop(&mut self) -> Result<Option<ClientMessage>, FrameError> {
        loop {
            let Some((fin, opcode, payload)) = self.next_frame()? else { return Ok(None) };
            let msg = match opcode {
                PING => ClientMessage::Ping(payload),
                PONG => ClientMessage::Pong(payload),
                CLOSE => ClientMessage::Close,
                TEXT | BINARY if fin && self.partial.is_none() => Self::data(opcode, payload),
                TEXT | BINARY if self.partial.is_none() => {
                    self.partial = Some((opcode, BytesMut::from(&payload[..])));
                    continue;
                }
                CONTINUATION => {
                    let Some((op, mut acc)) = self.partial.take() else {
                        return Err(FrameError::Malformed(opcode));
                    };
                    if acc.len() + payload.len() > self.max_message {
                        return Err(FrameError::TooLarge(self.max_message));
                    }
                    acc.extend_from_slice(&payload);
                    if !fin {
                        self.partial = Some((op, acc));
                        continue;
                    }
                    Self::data(op, acc.freeze())
                }
                other => return Err(FrameError::Malformed(other)),
            };
            return Ok(Some(msg));
        }
    }

    fn data(opcode: u8, payload: Bytes) -> ClientMessage {
        if opcode == TEXT { ClientMessage::Text(payload) } else { ClientMessage::Binary(payload) }
    }

    /// One frame off the buffer: (fin, opcode, unmasked payload).
    fn next_frame(&mut self) -> Result<Option<(bool, u8, Bytes)>, FrameError> {
        let b = &self.buf[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0F);
        if b[0] & 0x70 != 0 || (opcode >= 0x8 && (!fin || b[1] & 0x7F > 125)) {
            return Err(FrameError::Malformed(opcode));
        }
        if b[1] & 0x80 == 0 {
            return Err(FrameError::Unmasked);
        }
        let (len, at) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        if len > self.max_message as u64 {
            return Err(FrameError::TooLarge(self.max_message));
        }
        let len = len as usize;
        if b.len() < at + 4 + len {
            return Ok(None);
        }
        let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        self.buf.advance(at + 4);
        let mut payload = self.buf.split_to(len);
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
        Ok(Some((fin, opcode, payload.freeze())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![first];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn server_frames_have_the_right_length_encoding() {
        assert_eq!(&frame(TEXT, b"hi")[..], &[0x81, 2, b'h', b'i']);
        let f = frame(BINARY, &[0u8; 300]);
        assert_eq!(&f[..4], &[0x82, 126, 1, 44]);
        assert_eq!(f.len(), 304);
        let f = frame(BINARY, &vec![0u8; 70_000]);
        assert_eq!(&f[..2], &[0x82, 127]);
        assert_eq!(f.len(), 70_010);
    }

    #[test]
    fn client_messages_arrive_in_any_split_and_fragments_join() {
        let mut input = masked(0x81, br#"{"type":"ping"}"#);
        input.extend(masked(0x01, b"hel")); // text, not FIN
        input.extend(masked(0x89, b"p")); // a ping between fragments
        input.extend(masked(0x80, b"lo")); // continuation, FIN
        input.extend(masked(0x88, &[]));
        let mut p = ClientFrames::new(64 * 1024);
        let mut got = Vec::new();
        for byte in input {
            p.feed(&[byte]).unwrap();
            while let Some(m) = p.pop().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(
            got,
            vec![
                ClientMessage::Text(Bytes::from_static(br#"{"type":"ping"}"#)),
                ClientMessage::Ping(Bytes::from_static(b"p")),
                ClientMessage::Text(Bytes::from_static(b"hello")),
                ClientMessage::Close,
            ]
        );
    }

    #[test]
    fn oversized_and_unmasked_input_is_refused_without_keeping_it() {
        let mut p = ClientFrames::new(1024);
        p.feed(&masked(0x81, &[b'a'; 2000])[..8]).unwrap();
        assert_eq!(p.pop(), Err(FrameError::TooLarge(1024)));
        let mut p = ClientFrames::new(1024);
        assert!(p.feed(&[0u8; 4000]).is_err(), "more than a message's worth is not buffered");
        let mut p = ClientFrames::new(1024);
        p.feed(&[0x81, 0x02, b'h', b'i']).unwrap();
        assert_eq!(p.pop(), Err(FrameError::Unmasked));
    }
}
