//! The boxes: each written as size + type + body, sizes patched when the body is done.

/// What the init segment says about the Opus track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusTrack {
    /// 1 or 2 (channel mapping family 0).
    pub channels: u8,
    /// Samples at 48 kHz the decoder drops at the start (the encoder's look-ahead).
    pub pre_skip: u16,
    /// The source's sample rate (informational, as in `OpusHead`).
    pub input_sample_rate: u32,
}

/// The track's id in every box.
const TRACK_ID: u32 = 1;
const TIMESCALE: u32 = 48_000;

pub(super) struct W(pub(super) Vec<u8>);

impl W {
    pub(super) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub(super) fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    pub(super) fn zeros(&mut self, n: usize) -> &mut Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }

    /// A box of `kind` whose body `body` writes.
    pub(super) fn boxed(&mut self, kind: &[u8; 4], body: impl FnOnce(&mut W)) -> &mut Self {
        let start = self.0.len();
        self.u32(0).bytes(kind);
        body(self);
        let size = (self.0.len() - start) as u32;
        self.0[start..start + 4].copy_from_slice(&size.to_be_bytes());
        self
    }

    /// A full box (version and flags first).
    pub(super) fn full(
        &mut self,
        kind: &[u8; 4],
        version: u8,
        flags: u32,
        body: impl FnOnce(&mut W),
    ) -> &mut Self {
        self.boxed(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
            body(w);
        })
    }

    /// The unity matrix of `mvhd`/`tkhd`.
    pub(super) fn matrix(&mut self) -> &mut Self {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
        self
    }
}

/// `ftyp` + `moov`: what a player needs before the first fragment.
pub fn init_segment(track: &OpusTrack) -> Vec<u8> {
    init_segment_with(TIMESCALE, |w| opus_sample_entry(w, track))
}

/// The init segment of a track with media timescale `timescale`, whose sample entry
/// (inside `stsd`) `entry` writes.
pub(super) fn init_segment_with(timescale: u32, entry: impl FnOnce(&mut W)) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(700));
    w.boxed(b"ftyp", |w| {
        w.bytes(b"iso6").u32(0);
        for brand in [b"iso6", b"cmfc", b"dash", b"mp41"] {
            w.bytes(brand);
        }
    });
    w.boxed(b"moov", |w| {
        w.full(b"mvhd", 0, 0, |w| {
            w.u32(0).u32(0).u32(1000).u32(0); // times, timescale, duration (unknown: live)
            w.u32(0x0001_0000).u16(0x0100).zeros(10).matrix().zeros(24).u32(TRACK_ID + 1);
        });
        w.boxed(b"trak", |w| {
            // flags: enabled, in movie
            w.full(b"tkhd", 0, 3, |w| {
                w.u32(0).u32(0).u32(TRACK_ID).u32(0).u32(0); // times, id, reserved, duration
                w.zeros(8).u16(0).u16(1).u16(0x0100).u16(0).matrix().u32(0).u32(0);
            });
            w.boxed(b"mdia", |w| {
                w.full(b"mdhd", 0, 0, |w| {
                    // language "und", packed 5 bits per letter
                    w.u32(0).u32(0).u32(timescale).u32(0).u16(0x55C4).u16(0);
                });
                w.full(b"hdlr", 0, 0, |w| {
                    w.u32(0).bytes(b"soun").zeros(12).bytes(b"SoundHandler\0");
                });
                w.boxed(b"minf", |w| {
                    w.full(b"smhd", 0, 0, |w| {
                        w.u16(0).u16(0);
                    });
                    w.boxed(b"dinf", |w| {
                        w.full(b"dref", 0, 0, |w| {
                            // one entry: the media is in this file
                            w.u32(1).full(b"url ", 0, 1, |_| {});
                        });
                    });
                    w.boxed(b"stbl", |w| {
                        w.full(b"stsd", 0, 0, |w| {
                            w.u32(1);
                            entry(w);
                        });
                        w.full(b"stts", 0, 0, |w| {
                            w.u32(0);
                        });
                        w.full(b"stsc", 0, 0, |w| {
                            w.u32(0);
                        });
                        w.full(b"stsz", 0, 0, |w| {
                            w.u32(0).u32(0);
                        });
                        w.full(b"stco", 0, 0, |w| {
                            w.u32(0);
                        });
                    });
                });
            });
        });
        w.boxed(b"mvex", |w| {
            // defaults: sample description 1; durations and sizes come in every trun
            w.full(b"trex", 0, 0, |w| {
                w.u32(TRACK_ID).u32(1).u32(0).u32(0).u32(0);
            });
        });
    });
    w.0
}

/// The `Opus` audio sample entry with its `dOps` (Opus-specific box, big-endian fields).
fn opus_sample_entry(w: &mut W, t: &OpusTrack) {
    w.boxed(b"Opus", |w| {
        w.zeros(6).u16(1); // reserved, data_reference_index
        w.zeros(8).u16(u16::from(t.channels)).u16(16).u16(0).u16(0).u32(TIMESCALE << 16);
        w.boxed(b"dOps", |w| {
            w.u8(0).u8(t.channels).u16(t.pre_skip).u32(t.input_sample_rate).u16(0).u8(0);
        });
    });
}

/// One fragment (`moof` + `mdat`) holding `packets` (each `(duration in the track's
/// timescale, packet)`: 48 kHz for Opus), the first decoded at `base_time`; `sequence` numbers the fragments from 1.
pub fn fragment(sequence: u32, base_time: u64, packets: &[(u32, &[u8])]) -> Vec<u8> {
    let data: usize = packets.iter().map(|(_, p)| p.len()).sum();
    let mut w = W(Vec::with_capacity(100 + 8 * packets.len() + data));
    let mut data_offset_at = 0;
    w.boxed(b"moof", |w| {
        w.full(b"mfhd", 0, 0, |w| {
            w.u32(sequence);
        });
        w.boxed(b"traf", |w| {
            // default-base-is-moof: data offsets count from the moof's first byte
            w.full(b"tfhd", 0, 0x02_0000, |w| {
                w.u32(TRACK_ID);
            });
            w.full(b"tfdt", 1, 0, |w| {
                w.u64(base_time);
            });
            // data offset, sample duration and sample size present
            w.full(b"trun", 0, 0x000301, |w| {
                w.u32(packets.len() as u32);
                data_offset_at = w.0.len();
                w.u32(0);
                for (duration, p) in packets {
                    w.u32(*duration).u32(p.len() as u32);
                }
            });
        });
    });
    let offset = (w.0.len() + 8) as u32;
    w.0[data_offset_at..data_offset_at + 4].copy_from_slice(&offset.to_be_bytes());
    w.boxed(b"mdat", |w| {
        for (_, p) in packets {
            w.bytes(p);
        }
    });
    w.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (type, start, size) of the boxes in `b` (top level only).
    fn boxes(b: &[u8]) -> Vec<(String, usize, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i + 8 <= b.len() {
            let size = u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
            out.push((String::from_utf8_lossy(&b[i + 4..i + 8]).into_owned(), i, size));
            assert!(size >= 8 && i + size <= b.len(), "box at {i} overruns");
            i += size;
        }
        assert_eq!(i, b.len(), "trailing bytes");
        out
    }

    fn find(b: &[u8], kind: &[u8; 4]) -> usize {
        b.windows(4).position(|w| w == kind).unwrap_or_else(|| panic!("no {}", String::from_utf8_lossy(kind)))
            - 4
    }

    #[test]
    fn init_segment_has_opus_entry_with_dops() {
        let b = init_segment(&OpusTrack { channels: 2, pre_skip: 312, input_sample_rate: 48_000 });
        let top: Vec<String> = boxes(&b).into_iter().map(|x| x.0).collect();
        assert_eq!(top, ["ftyp", "moov"]);
        let moov = &b[find(&b, b"moov") + 8..];
        let names: Vec<String> = boxes(moov).into_iter().map(|x| x.0).collect();
        assert_eq!(names, ["mvhd", "trak", "mvex"]);
        let d = find(&b, b"dOps");
        assert_eq!(u32::from_be_bytes(b[d..d + 4].try_into().unwrap()), 19);
        assert_eq!(&b[d + 8..d + 19], &[0, 2, 0x01, 0x38, 0, 0, 0xBB, 0x80, 0, 0, 0]);
        let o = find(&b, b"Opus");
        // channel count and 48 kHz in 16.16
        assert_eq!(&b[o + 24..o + 26], &[0, 2]);
        assert_eq!(&b[o + 32..o + 36], &(48_000u32 << 16).to_be_bytes());
        let md = find(&b, b"mdhd");
        assert_eq!(&b[md + 20..md + 24], &48_000u32.to_be_bytes());
    }

    #[test]
    fn fragment_offsets_point_at_the_packets() {
        let (a, c) = (vec![1u8; 50], vec![2u8; 70]);
        let b = fragment(7, 960 * 40, &[(960, &a), (960, &c)]);
        let top = boxes(&b);
        assert_eq!(top.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["moof", "mdat"]);
        let t = find(&b, b"trun");
        let count = u32::from_be_bytes(b[t + 12..t + 16].try_into().unwrap());
        let offset = u32::from_be_bytes(b[t + 16..t + 20].try_into().unwrap()) as usize;
        assert_eq!(count, 2);
        assert_eq!(&b[offset..offset + 50], &a[..]);
        assert_eq!(&b[offset + 50..], &c[..]);
        let d = find(&b, b"tfdt");
        assert_eq!(b[d + 8], 1, "version 1: 64-bit decode time");
        assert_eq!(u64::from_be_bytes(b[d + 12..d + 20].try_into().unwrap()), 960 * 40);
        let m = find(&b, b"mfhd");
        assert_eq!(u32::from_be_bytes(b[m + 12..m + 16].try_into().unwrap()), 7);
    }
}
