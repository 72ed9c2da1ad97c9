//! `ondes netsim --drop-ws-messages P`: lose whole WebSocket messages on the way to the
//! server. TCP never loses bytes — the link model turns its losses into late arrivals — so
//! a publisher over WebSocket can only "lose frames on the network" the way a broken
//! middlebox or a lossy UDP leg behind a gateway would: whole messages vanish. This filter
//! does that to the client→server direction, so that tools that tell sender-side drops from
//! network loss (`ondes probe --sender-log`) can be checked against a known network loss.
//!
//! It is a sans-IO byte filter: the HTTP upgrade request passes untouched, then each
//! client frame is parsed (RFC 6455 §5.2: header, extended length, mask key, payload) and a
//! complete binary message (FIN set, opcode 2) is dropped with probability `p`. Control
//! frames, text and fragmented messages always pass, so the connection stays valid.

/// Where in the byte stream the filter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the end of the HTTP upgrade request (`\r\n\r\n`); `matched` bytes of it seen.
    Handshake { matched: usize },
    /// Collecting a frame header.
    Header,
    /// Inside a frame's payload.
    Payload { remaining: u64, drop: bool },
}

/// The client→server filter of one connection.
#[derive(Debug, Clone)]
pub struct WsMessageDropper {
    p: f64,
    rng: u64,
    phase: Phase,
    header: Vec<u8>,
    /// Binary messages dropped and passed.
    pub dropped: u64,
    pub passed: u64,
}

impl WsMessageDropper {
    pub fn new(p: f64, seed: u64) -> Self {
        WsMessageDropper {
            p: p.clamp(0.0, 1.0),
            rng: seed,
            phase: Phase::Handshake { matched: 0 },
            header: Vec::with_capacity(14),
            dropped: 0,
            passed: 0,
        }
    }

    fn chance(&mut self) -> f64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The header length once its first two bytes are known.
    fn header_len(&self) -> Option<usize> {
        let b1 = *self.header.get(1)?;
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
        Some(2 + ext + mask)
    }

    fn payload_len(&self) -> u64 {
        let h = &self.header;
        match h[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => h[2..10].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
            n => u64::from(n),
        }
    }

    /// Filters `input`, appending what passes to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match self.phase {
                Phase::Handshake { mut matched } => {
                    const END: &[u8] = b"\r\n\r\n";
                    let mut used = 0;
                    for &b in input {
                        used += 1;
                        matched = if b == END[matched] {
                            matched + 1
                        } else if b == END[0] {
                            1
                        } else {
                            0
                        };
                        if matched == END.len() {
                            break;
                        }
                    }
                    out.extend_from_slice(&input[..used]);
                    input = &input[used..];
                    self.phase =
                        if matched == END.len() { Phase::Header } else { Phase::Handshake { matched } };
                }
                Phase::Header => {
                    let want = self.header_len().unwrap_or(2);
                    let take = (want - self.header.len()).min(input.len());
                    self.header.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let Some(full) = self.header_len() else { continue };
                    if self.header.len() < full {
                        continue;
                    }
                    let b0 = self.header[0];
                    let whole_binary = b0 & 0x80 != 0 && b0 & 0x0f == 0x2;
                    let drop = whole_binary && self.chance() < self.p;
                    if whole_binary {
                        if drop {
                            self.dropped += 1;
                        } else {
                            self.passed += 1;
                        }
                    }
                    if !drop {
                        out.extend_from_slice(&self.header);
                    }
                    let remaining = self.payload_len();
                    self.header.clear();
                    self.phase =
                        if remaining == 0 { Phase::Header } else { Phase::Payload { remaining, drop } };
                }
                Phase::Payload { remaining, drop } => {
                    let take = (remaining.min(input.len() as u64)) as usize;
                    if !drop {
                        out.extend_from_slice(&input[..take]);
                    }
                    input = &input[take..];
                    let left = remaining - take as u64;
                    self.phase =
                        if left == 0 { Phase::Header } else { Phase::Payload { remaining: left, drop } };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame (the mask is all zeros, so the payload reads as is).
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65_536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(payload);
        f
    }

    fn stream(messages: usize) -> (Vec<u8>, Vec<u8>) {
        let handshake = b"GET /api/streams/v/publish HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        let mut all = handshake.clone();
        for i in 0..messages {
            all.extend(frame(2, &vec![i as u8; 100 + (i % 3) * 200]));
            if i % 10 == 0 {
                all.extend(frame(9, b"ping"));
            }
        }
        (handshake, all)
    }

    #[test]
    fn passes_everything_at_zero_whatever_the_chunking() {
        let (_, all) = stream(50);
        for chunk in [1, 3, 7, 1000] {
            let mut d = WsMessageDropper::new(0.0, 1);
            let mut out = Vec::new();
            for c in all.chunks(chunk) {
                d.feed(c, &mut out);
            }
            assert_eq!(out, all, "chunks of {chunk}");
            assert_eq!((d.passed, d.dropped), (50, 0));
        }
    }

    #[test]
    fn drops_whole_binary_messages_only() {
        let (handshake, all) = stream(1000);
        let mut d = WsMessageDropper::new(0.2, 9);
        let mut out = Vec::new();
        for c in all.chunks(5) {
            d.feed(c, &mut out);
        }
        assert!((150..250).contains(&d.dropped), "{}", d.dropped);
        assert_eq!(d.dropped + d.passed, 1000);
        // what passes is a valid frame sequence: replay it through a filter that drops nothing
        assert!(out.starts_with(&handshake));
        let mut check = WsMessageDropper::new(0.0, 1);
        let mut again = Vec::new();
        check.feed(&out, &mut again);
        assert_eq!(again, out);
        assert_eq!(check.passed, d.passed);
        // every ping survived
        let pings = out.windows(4).filter(|w| w == b"ping").count();
        assert_eq!(pings, 100);
    }

    #[test]
    fn long_lengths_are_parsed() {
        let mut all = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        all.extend(frame(2, &vec![1; 70_000]));
        all.extend(frame(2, &[2; 10]));
        let mut d = WsMessageDropper::new(0.0, 1);
        let mut out = Vec::new();
        d.feed(&all, &mut out);
        assert_eq!((out.len(), d.passed), (all.len(), 2));
    }
}
