//! The Ogg demuxer and the Ogg/Opus reader/decoder on their own: packet reassembly across
//! pages and chunk boundaries, several logical streams, damage (bad CRC, garbage, lost pages,
//! truncation) counted and survived, and no panic on any input.

mod common;

use ondes_codec::ogg::{OggDemuxStats, OggDemuxer, OggPacket, OggPageWriter};
use ondes_codec::ogg_opus::{OggOpusDecoder, OggOpusEvent, OggOpusReader, OpusHead, OpusTags};
use ondes_codec::opus::OpusConfig;
use ondes_codec::{CodecError, OggOpusMuxer};

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn packet_of(len: usize, tag: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(tag)).collect()
}

/// Feeds `bytes` in random chunk sizes and collects every packet.
fn demux_chunked(bytes: &[u8], rng: &mut Rng, max_chunk: usize) -> (Vec<OggPacket>, OggDemuxStats) {
    let mut d = OggDemuxer::new();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = (1 + rng.below(max_chunk)).min(bytes.len() - at);
        d.feed(&bytes[at..at + n]);
        at += n;
        while let Some(p) = d.pop() {
            out.push(p);
        }
    }
    d.end_of_input();
    while let Some(p) = d.pop() {
        out.push(p);
    }
    (out, d.stats())
}

#[test]
fn packets_of_every_awkward_size_survive_any_chunking() {
    // 255 and its multiples end with a 0 lacing value; 65025 fills a page exactly; larger ones
    // span pages.
    let sizes = [0usize, 1, 254, 255, 256, 510, 4000, 65_025, 65_026, 70_000, 200_000, 3];
    let mut w = OggPageWriter::new(42);
    let mut bytes = Vec::new();
    let packets: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| packet_of(n, i as u8)).collect();
    // Some packets alone on their pages, some grouped.
    w.write_packets(&[(&packets[0], 10)], true, false, &mut bytes);
    w.write_packets(&[(&packets[1], 11), (&packets[2], 12), (&packets[3], 13)], false, false, &mut bytes);
    for (i, p) in packets.iter().enumerate().skip(4).take(7) {
        w.write_packets(&[(p, 10 + i as u64)], false, false, &mut bytes);
    }
    w.write_packets(&[(&packets[11], 21)], false, true, &mut bytes);

    let mut rng = Rng(7);
    for max_chunk in [1, 3, 100, 5000, 1 << 20] {
        let (got, stats) = demux_chunked(&bytes, &mut rng, max_chunk);
        assert_eq!(got.len(), packets.len(), "chunks of up to {max_chunk}");
        for (i, (g, want)) in got.iter().zip(&packets).enumerate() {
            assert_eq!(&g.data, want, "packet {i}");
            assert_eq!(g.serial, 42);
        }
        assert!(got[0].bos && !got[1].bos);
        assert!(got[11].eos && got.iter().filter(|p| p.eos).count() == 1);
        // Only the last packet ending on a page carries the page's granule position.
        assert_eq!(got[1].granule, None);
        assert_eq!(got[3].granule, Some(13));
        assert_eq!(got[10].granule, Some(20));
        assert_eq!(
            stats.corrupt_pages + stats.skipped_bytes + stats.dropped_packets + stats.sequence_gaps,
            0
        );
        assert_eq!(stats.packets, packets.len() as u64);
    }
}

#[test]
fn multiplexed_and_chained_streams_are_told_apart() {
    let mut a = OggPageWriter::new(1);
    let mut b = OggPageWriter::new(2);
    let mut bytes = Vec::new();
    // Both BOS pages first (RFC 3533 grouping), then interleaved data pages.
    a.write_packets(&[(b"a-head", 0)], true, false, &mut bytes);
    b.write_packets(&[(b"b-head", 0)], true, false, &mut bytes);
    for i in 0..5u8 {
        a.write_packets(&[(&[b'a', i], u64::from(i))], false, i == 4, &mut bytes);
        b.write_packets(&[(&packet_of(600, i), u64::from(i))], false, i == 4, &mut bytes);
    }
    // Chained: serial 1 again after its end, as a new stream.
    let mut a2 = OggPageWriter::new(1);
    a2.write_packets(&[(b"a2-head", 0)], true, false, &mut bytes);
    a2.write_packets(&[(b"a2-data", 1)], false, true, &mut bytes);

    let (got, stats) = demux_chunked(&bytes, &mut Rng(3), 97);
    let of =
        |serial: u32| got.iter().filter(|p| p.serial == serial).map(|p| p.data.clone()).collect::<Vec<_>>();
    let a_packets = of(1);
    assert_eq!(a_packets.len(), 8);
    assert_eq!(a_packets[0], b"a-head");
    assert_eq!(a_packets[5], [b'a', 4]);
    assert_eq!(a_packets[6], b"a2-head");
    assert_eq!(of(2).len(), 6);
    assert_eq!(of(2)[3], packet_of(600, 2));
    assert_eq!(got.iter().filter(|p| p.bos).count(), 3);
    assert_eq!(got.iter().filter(|p| p.eos).count(), 3);
    assert_eq!(stats.sequence_gaps, 0, "a chained stream reusing a serial starts its numbering afresh");
}

/// Ten single-packet pages of stream 5, each packet 300 bytes (so each spans two segments).
fn ten_pages() -> (Vec<u8>, Vec<usize>) {
    let mut w = OggPageWriter::new(5);
    let mut bytes = Vec::new();
    let mut starts = Vec::new();
    for i in 0..10u8 {
        starts.push(bytes.len());
        w.write_packets(&[(&packet_of(300, i), u64::from(i))], i == 0, i == 9, &mut bytes);
    }
    (bytes, starts)
}

#[test]
fn a_corrupt_page_is_counted_and_the_rest_is_recovered() {
    let (mut bytes, starts) = ten_pages();
    bytes[starts[4] + 100] ^= 0x40; // one bit in page 4's body
    let (got, stats) = demux_chunked(&bytes, &mut Rng(1), 64);
    assert_eq!(stats.corrupt_pages, 1);
    assert_eq!(stats.sequence_gaps, 1, "page 5 follows page 3");
    assert_eq!(stats.skipped_bytes, (starts[5] - starts[4]) as u64, "exactly the bad page is skipped");
    let tags: Vec<u8> = got.iter().map(|p| p.data[0]).collect();
    assert_eq!(tags, [0, 1, 2, 3, 5, 6, 7, 8, 9], "page 4's packet is lost, the rest in order");
}

#[test]
fn garbage_around_pages_is_skipped_and_counted() {
    let (bytes, _) = ten_pages();
    let mut rng = Rng(99);
    let junk = |rng: &mut Rng, n| -> Vec<u8> { rng.bytes(n).into_iter().map(|b| b & 0x7F | 0x01).collect() };
    let mut dirty = junk(&mut rng, 1000);
    dirty.extend_from_slice(b"OggSOggS"); // false starts
    let mid_page = bytes.len() / 2 + 100; // the pages are all the same size: cut page 5
    dirty.extend_from_slice(&bytes[..mid_page]);
    dirty.extend(junk(&mut rng, 333));
    dirty.extend_from_slice(&bytes[mid_page..]);
    let (got, stats) = demux_chunked(&dirty, &mut rng, 50);
    println!("{stats:?}");
    // The page cut in half loses its packet; everything else comes through.
    assert_eq!(got.len(), 9);
    assert!(stats.skipped_bytes >= 1000 + 8 + 333, "{stats:?}");
    assert!(stats.corrupt_pages >= 1, "the half page fails its CRC: {stats:?}");
    assert_eq!(stats.sequence_gaps, 1);
}

#[test]
fn a_stream_joined_mid_packet_drops_only_the_orphan_continuation() {
    let mut w = OggPageWriter::new(8);
    let mut bytes = Vec::new();
    w.write_packets(&[(&packet_of(100_000, 1), 1)], false, false, &mut bytes); // two pages
    let second_page = 27 + 255 + 255 * 255;
    w.write_packets(&[(&packet_of(10, 2), 2)], false, false, &mut bytes);
    let (got, stats) = demux_chunked(&bytes[second_page..], &mut Rng(5), 1000);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, packet_of(10, 2));
    assert_eq!(stats.dropped_packets, 1);
}

#[test]
fn oversized_packets_are_dropped_with_a_count() {
    let mut w = OggPageWriter::new(8);
    let mut bytes = Vec::new();
    w.write_packets(&[(&packet_of(5000, 1), 1), (&packet_of(10, 2), 2)], false, false, &mut bytes);
    let mut d = OggDemuxer::with_max_packet_bytes(1000);
    d.feed(&bytes);
    assert_eq!(d.pop().map(|p| p.data), Some(packet_of(10, 2)));
    assert_eq!(d.pop(), None);
    assert_eq!(d.stats().dropped_packets, 1);
}

/// A real Ogg/Opus file from our muxer: 0.5 s of speech.
fn opus_file() -> (Vec<u8>, Vec<f32>) {
    let cfg = OpusConfig { channels: 1, ..OpusConfig::default() };
    let pcm: Vec<f32> = common::speech(48_000)[..24_000 + 1234].to_vec(); // not whole frames
    (common::encode_ogg(&cfg, &pcm, 77), pcm)
}

#[test]
fn random_garbage_truncation_and_bit_flips_never_panic() {
    let (file, _) = opus_file();
    let mut rng = Rng(0xDEAD_BEEF);
    // Pure garbage, with and without capture patterns sprinkled in.
    for round in 0..200 {
        let len = rng.below(20_000);
        let mut junk = rng.bytes(len);
        if round % 2 == 0 {
            for _ in 0..10 {
                let at = rng.below(junk.len().max(1));
                let end = (at + 4).min(junk.len());
                junk[at..end].copy_from_slice(&b"OggS"[..end - at]);
            }
        }
        let (_, stats) = demux_chunked(&junk, &mut rng, 4096);
        assert_eq!(stats.packets, 0, "garbage made a packet: {stats:?}");
        let mut dec = OggOpusDecoder::new(48_000, None).expect("decoder");
        dec.feed(&junk);
        let _ = dec.read(&mut Vec::new());
    }
    // Every truncation of a real file: a prefix of its packets, the cut one counted.
    let (whole, _) = demux_chunked(&file, &mut rng, 1 << 20);
    for cut in (0..file.len()).step_by(37) {
        let (got, stats) = demux_chunked(&file[..cut], &mut rng, 700);
        assert!(got.len() <= whole.len());
        assert_eq!(got, whole[..got.len()].to_vec());
        assert!(stats.dropped_packets <= 1);
        let mut dec = OggOpusDecoder::new(24_000, Some(2)).expect("decoder");
        dec.feed(&file[..cut]);
        dec.end_of_input();
        dec.read(&mut Vec::new()).expect("a truncated file decodes what it has");
    }
    // Bit flips anywhere: the reader and decoder report errors or skip, never panic.
    for _ in 0..300 {
        let mut damaged = file.clone();
        let flips = 1 + rng.below(8);
        for _ in 0..flips {
            let at = rng.below(damaged.len());
            damaged[at] ^= 1 << rng.below(8);
        }
        let mut dec = OggOpusDecoder::new(48_000, None).expect("decoder");
        let chunk_len = 1 + rng.below(3000);
        for chunk in damaged.chunks(chunk_len) {
            dec.feed(chunk);
            let _ = dec.read(&mut Vec::new());
        }
    }
}

#[test]
fn the_decoder_applies_pre_skip_and_end_trimming_exactly() {
    let (file, pcm) = opus_file();
    for (rate, expected) in [(48_000, pcm.len()), (16_000, pcm.len() / 3), (8_000, pcm.len() / 6)] {
        let (decoded, dec) = common::decode_ogg(&file, rate, None);
        assert_eq!(decoded.len(), expected, "{rate} Hz");
        assert_eq!(dec.demux_stats().packets, 2 + (pcm.len() + 312).div_ceil(960) as u64);
        if rate == 48_000 {
            let (corr, lag) = common::best_correlation(&pcm, &decoded, rate, 200);
            assert!(corr > 0.95 && lag == 0, "corr {corr:.3} lag {lag}");
        }
    }
    // Forced stereo output from a mono file: both channels carry it.
    let (decoded, _) = common::decode_ogg(&file, 48_000, Some(2));
    assert_eq!(decoded.len(), pcm.len() * 2);
    assert_eq!(common::channel(&decoded, 2, 0), common::channel(&decoded, 2, 1));
}

#[test]
fn output_gain_from_the_header_is_applied() {
    let (file, _) = opus_file();
    let (plain, _) = common::decode_ogg(&file, 48_000, None);
    // Rewrite OpusHead with +6.02 dB (Q7.8: 1541) — the header page's CRC must be redone, so
    // remux: take the packets and write them again under a new header.
    let mut reader = OggOpusReader::new();
    reader.feed(&file);
    let mut head = None;
    let mut audio = Vec::new();
    while let Some(event) = reader.pop().expect("valid") {
        match event {
            OggOpusEvent::Head(h) => head = Some(h),
            OggOpusEvent::Tags(_) => {}
            OggOpusEvent::Audio(p) => audio.push(p),
        }
    }
    let mut head = head.expect("head");
    head.output_gain_q8 = 1541;
    let mut w = OggPageWriter::new(3);
    let mut loud = Vec::new();
    w.write_packets(&[(&head.to_bytes(), 0)], true, false, &mut loud);
    w.write_packets(&[(&OpusTags::default().to_bytes(), 0)], false, false, &mut loud);
    let last = audio.len() - 1;
    for (i, p) in audio.iter().enumerate() {
        w.write_packets(&[(&p.data, p.granule.expect("one packet per page"))], false, i == last, &mut loud);
    }
    let (louder, _) = common::decode_ogg(&loud, 48_000, None);
    assert_eq!(louder.len(), plain.len());
    for (a, b) in plain.iter().zip(&louder).step_by(101) {
        assert!((b - 2.0 * a).abs() < 1e-3, "{a} → {b}");
    }
}

#[test]
fn the_reader_follows_the_opus_stream_among_others_and_across_chains() {
    let mut bytes = Vec::new();
    // A non-Opus stream first (a Vorbis-like header), multiplexed with the Opus one.
    let mut other = OggPageWriter::new(100);
    other.write_packets(&[(b"\x01vorbis-ish", 0)], true, false, &mut bytes);
    let mut first = OggOpusMuxer::new(200, 2, 44_100, 312).expect("muxer");
    bytes.extend(first.headers());
    other.write_packets(&[(b"other data", 5)], false, true, &mut bytes);
    let packet = [0xFC, 0xFF, 0xFE]; // CELT FB 20 ms stereo
    bytes.extend(first.push(&packet, 960));
    bytes.extend(first.finish());
    // A second Opus stream chained after the first.
    let mut second = OggOpusMuxer::new(300, 1, 16_000, 120).expect("muxer");
    second.add_comment("TITLE=two");
    bytes.extend(second.headers());
    bytes.extend(second.push(&packet, 960));
    bytes.extend(second.finish());

    let mut reader = OggOpusReader::new();
    reader.feed(&bytes);
    let mut events = Vec::new();
    while let Some(e) = reader.pop().expect("valid stream") {
        events.push(e);
    }
    assert_eq!(events.len(), 6, "{events:?}");
    assert!(matches!(&events[0], OggOpusEvent::Head(h) if h.channels == 2 && h.input_sample_rate == 44_100));
    assert!(matches!(&events[1], OggOpusEvent::Tags(t) if t.vendor == "ondes"));
    assert!(matches!(&events[2], OggOpusEvent::Audio(a) if a.data == packet && a.granule == Some(960)));
    assert!(matches!(&events[3], OggOpusEvent::Head(h) if h.channels == 1 && h.pre_skip == 120));
    assert!(matches!(&events[4], OggOpusEvent::Tags(t) if t.comments == ["TITLE=two"]));
    // The last page is an empty end-of-stream page, so no packet is flagged `eos`.
    assert!(matches!(&events[5], OggOpusEvent::Audio(a) if a.data == packet && !a.eos));
    assert_eq!(reader.ignored_packets(), 2);
}

#[test]
fn malformed_headers_are_rejected_with_reasons() {
    let good = OpusHead::new(2, 48_000, 312);
    assert_eq!(OpusHead::parse(&good.to_bytes()).expect("round trip"), good);
    let family1 = OpusHead { mapping_family: 1, ..good.clone() };
    assert_eq!(OpusHead::parse(&family1.to_bytes()).expect("family 1 stereo"), family1);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"OpusHea".to_vec(), "not an OpusHead"),
        (good.to_bytes()[..18].to_vec(), "shorter than the 19"),
        (OpusHead { version: 16, ..good.clone() }.to_bytes(), "incompatible"),
        (OpusHead { channels: 0, ..good.clone() }.to_bytes(), "0 channels"),
        (OpusHead { channels: 6, mapping_family: 1, ..good.clone() }.to_bytes(), "multistream"),
        (OpusHead { channels: 3, ..good.clone() }.to_bytes(), "at most 2"),
        (OpusHead { mapping_family: 1, ..good.clone() }.to_bytes()[..20].to_vec(), "mapping table"),
    ];
    for (bytes, why) in cases {
        let err = OpusHead::parse(&bytes).expect_err(why);
        assert!(matches!(&err, CodecError::OggOpus(m) if m.contains(why)), "{why}: {err}");
    }
    let tags = OpusTags { vendor: "v".into(), comments: vec!["A=1".into(), "B=ü".into()] };
    assert_eq!(OpusTags::parse(&tags.to_bytes()).expect("round trip"), tags);
    let bytes = tags.to_bytes();
    for cut in 8..bytes.len() {
        assert!(OpusTags::parse(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    // A huge comment count with no comments behind it fails fast.
    let mut lying = OpusTags::default().to_bytes();
    lying.truncate(lying.len() - 4);
    lying.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(OpusTags::parse(&lying).is_err());

    // In a stream, a bad header is an error for that stream only.
    let mut w = OggPageWriter::new(1);
    let mut bytes = Vec::new();
    w.write_packets(&[(&OpusHead { version: 16, ..good.clone() }.to_bytes(), 0)], true, false, &mut bytes);
    w.write_packets(&[(b"anything", 0)], false, true, &mut bytes);
    let ok = OggOpusMuxer::new(2, 1, 48_000, 312).expect("muxer");
    bytes.extend(ok.headers());
    let mut reader = OggOpusReader::new();
    reader.feed(&bytes);
    assert!(reader.pop().is_err());
    assert!(matches!(reader.pop(), Ok(Some(OggOpusEvent::Head(_)))));
}
