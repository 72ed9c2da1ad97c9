//! The listener machine in simulated time: no sockets, no clock.

use super::*;

#[derive(Debug, Clone, PartialEq)]
struct F {
    seq: u64,
    capture_us: i64,
}

impl EgressFrame for F {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn capture_us(&self) -> i64 {
        self.capture_us
    }
}

/// Frames of 20 ms captured at seq × 20 ms.
fn frame(seq: u64) -> F {
    F { seq, capture_us: seq as i64 * 20_000 }
}

/// A message is "a<first>-<last>" (audio) so tests can read the byte stream; it counts
/// how often it was asked.
#[derive(Default)]
struct TextFramer {
    made: usize,
}

impl Framer<F> for TextFramer {
    type Bytes = Vec<u8>;
    fn audio(&mut self, frames: &[F]) -> Vec<u8> {
        self.made += 1;
        format!("a{}-{};", frames[0].seq, frames[frames.len() - 1].seq).into_bytes()
    }
    /// One byte of audio per frame.
    fn payload_bytes(&self, frames: &[F]) -> u64 {
        frames.len() as u64
    }
}

fn machine(batch: u64, max_lag_ms: u64) -> ListenerEgress<F, Vec<u8>> {
    let mut cfg = EgressConfig::new(batch, max_lag_ms * 1000, 20_000);
    cfg.latency_sample_every = 1;
    ListenerEgress::new(cfg)
}

/// Writes everything the machine offers, as a socket that takes all, and returns it.
fn drain(m: &mut ListenerEgress<F, Vec<u8>>, now_us: i64) -> String {
    let mut out = Vec::new();
    while let Some(b) = m.poll_transmit() {
        let b = b.to_vec();
        out.extend_from_slice(&b);
        m.handle_written(b.len(), now_us);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn batches_are_aligned_on_sequence_numbers() {
    let mut m = machine(4, 1000);
    let mut f = TextFramer::default();
    for s in 0..10 {
        m.push_frame(frame(s), &mut f);
    }
    assert_eq!(drain(&mut m, 0), "a0-3;a4-7;");
    assert_eq!(m.waiting_frames(), 2, "8 and 9 wait for the batch to fill");
    m.flush(&mut f);
    assert_eq!(drain(&mut m, 0), "a8-9;");
    assert_eq!(m.stats().frames_sent, 10);
    assert_eq!(m.stats().messages_sent, 3);
}

#[test]
fn a_listener_joining_mid_batch_gets_a_short_first_message_then_aligned_ones() {
    let mut m = machine(4, 1000);
    let mut f = TextFramer::default();
    for s in 6..12 {
        m.push_frame(frame(s), &mut f);
    }
    assert_eq!(drain(&mut m, 0), "a6-7;a8-11;");
}

#[test]
fn a_gap_in_sequence_numbers_closes_the_batch() {
    let mut m = machine(4, 1000);
    let mut f = TextFramer::default();
    m.push_frame(frame(0), &mut f);
    m.push_frame(frame(1), &mut f);
    m.push_frame(frame(3), &mut f);
    assert_eq!(drain(&mut m, 0), "a0-1;a3-3;");
}

#[test]
fn notices_come_in_order_with_frames() {
    let mut m = machine(4, 1000);
    let mut f = TextFramer::default();
    m.push_frame(frame(0), &mut f);
    m.push_frame(frame(1), &mut f);
    m.push_control(b"paused;".to_vec(), &mut f);
    m.push_control(b"resumed;".to_vec(), &mut f);
    m.push_frame(frame(2), &mut f);
    m.push_frame(frame(3), &mut f);
    assert_eq!(drain(&mut m, 0), "a0-1;paused;resumed;a2-3;");
    // a pong does not describe the audio: it does not wait for the batch
    m.push_frame(frame(4), &mut f);
    m.push_control_now(b"pong;".to_vec());
    assert_eq!(drain(&mut m, 0), "pong;");
    assert_eq!(m.waiting_frames(), 1);
}

#[test]
fn a_partial_write_resumes_at_its_offset() {
    let mut m = machine(2, 1000);
    let mut f = TextFramer::default();
    for s in 0..4 {
        m.push_frame(frame(s), &mut f);
    }
    // the socket takes 3 bytes, then 4 (the rest of the first message and one more), then all
    assert_eq!(m.poll_transmit(), Some(&b"a0-1;"[..]));
    m.handle_written(3, 0);
    assert_eq!(m.poll_transmit(), Some(&b"1;"[..]));
    assert_eq!(m.stats().frames_sent, 0, "a frame counts once its message is written whole");
    m.handle_written(4, 0);
    assert_eq!(m.stats().frames_sent, 2);
    assert_eq!(m.poll_transmit(), Some(&b"-3;"[..]));
    let mut v = Vec::new();
    m.poll_transmit_vectored(&mut v, 8);
    assert_eq!(v, vec![&b"-3;"[..]]);
    m.handle_written(3, 0);
    assert!(m.is_idle());
    assert_eq!(m.stats().bytes_sent, 10);
    assert_eq!(m.stats().frames_sent, 4);
}

#[test]
fn vectored_writes_cover_several_messages_and_resume_in_the_middle() {
    let mut m = machine(1, 1000);
    let mut f = TextFramer::default();
    for s in 0..3 {
        m.push_frame(frame(s), &mut f);
    }
    let mut v = Vec::new();
    m.poll_transmit_vectored(&mut v, 8);
    assert_eq!(v.concat(), b"a0-0;a1-1;a2-2;");
    drop(v);
    m.handle_written(7, 0); // the first message and two bytes of the second
    assert_eq!(m.stats().frames_sent, 1);
    assert_eq!(m.poll_transmit(), Some(&b"-1;"[..]));
}

#[test]
fn a_slow_listener_is_skipped_to_live_at_a_message_boundary_and_counted() {
    // 1 s of lag allowed, 20 ms frames, batch 5 (100 ms messages)
    let mut m = machine(5, 1000);
    let mut f = TextFramer::default();
    for s in 0..15 {
        m.push_frame(frame(s), &mut f);
    }
    // the socket took half of the first message, then stopped reading
    m.handle_written(3, 300_000);
    assert!(!m.is_lagging(30), "15 waiting − 5 on their way + 30 in the ring = 800 ms");
    assert!(m.is_lagging(45), "10 + 45 = 1.1 s");
    // the caller moved its ring cursor to live past 45 frames
    let skipped = m.skip_to_live(45);
    assert_eq!(skipped, 55, "the two unstarted messages (10 frames) and the ring's 45");
    assert_eq!(m.dropped_at_last_skip(), 2, "the two unstarted messages, not the started one");
    assert_eq!(m.stats().skipped_frames, 55);
    assert_eq!(m.stats().skips, 1);
    m.push_control(b"lagged;".to_vec(), &mut f);
    // the started message is finished first: the stream stays well-formed
    assert_eq!(drain(&mut m, 1_300_000), "4;lagged;");
    assert_eq!(m.stats().frames_sent, 5);
    // live again
    for s in 60..65 {
        m.push_frame(frame(s), &mut f);
    }
    assert_eq!(drain(&mut m, 1_310_000), "a60-64;");
    assert!(!m.is_lagging(0));
}

#[test]
fn skipping_keeps_control_messages() {
    let mut m = machine(2, 100);
    let mut f = TextFramer::default();
    m.push_frame(frame(0), &mut f);
    m.push_frame(frame(1), &mut f);
    m.push_control(b"quality;".to_vec(), &mut f);
    m.push_frame(frame(2), &mut f);
    assert_eq!(m.skip_to_live(0), 3, "the unstarted message and the frame being gathered");
    assert_eq!(m.dropped_at_last_skip(), 1, "the gathered frame was never framed");
    assert_eq!(drain(&mut m, 0), "quality;");
    assert_eq!(m.waiting_frames(), 0);
}

#[test]
fn latency_is_measured_from_capture_when_the_socket_took_the_message() {
    let mut m = machine(2, 1000);
    let mut f = TextFramer::default();
    m.push_frame(frame(0), &mut f);
    m.push_frame(frame(1), &mut f); // captured at 20 ms
    drain(&mut m, 25_000);
    assert_eq!(m.stats().last_latency_us, Some(5_000));
    let samples: Vec<_> = m.take_latency_samples().collect();
    assert_eq!(samples, vec![LatencySample { latency_us: 5_000, frames: 2 }]);
    assert_eq!(m.take_latency_samples().count(), 0);
}

#[test]
fn latency_is_sampled_not_measured_for_every_message() {
    let mut cfg = EgressConfig::new(1, 1_000_000, 20_000);
    cfg.latency_sample_every = 4;
    let mut m: ListenerEgress<F, Vec<u8>> = ListenerEgress::new(cfg);
    let mut f = TextFramer::default();
    for s in 0..8 {
        m.push_frame(frame(s), &mut f);
    }
    drain(&mut m, 200_000);
    assert_eq!(m.take_latency_samples().count(), 2);
}

#[test]
fn a_batch_change_sends_the_gathered_frames_first() {
    let mut m = machine(4, 1000);
    let mut f = TextFramer::default();
    m.push_frame(frame(0), &mut f);
    m.set_batch(1, &mut f);
    m.push_frame(frame(1), &mut f);
    assert_eq!(drain(&mut m, 0), "a0-0;a1-1;");
    assert_eq!(m.batch(), 1);
}

#[test]
fn whole_message_writers_take_messages_in_order() {
    let mut m = machine(2, 1000);
    let mut f = TextFramer::default();
    for s in 0..4 {
        m.push_frame(frame(s), &mut f);
    }
    let a = m.poll_message(0).unwrap();
    assert_eq!(a.bytes, b"a0-1;");
    assert_eq!(a.kind, MessageKind::Audio { frames: 2, first_seq: 0, capture_us: 20_000, payload: 2 });
    assert_eq!(m.poll_message(0).unwrap().bytes, b"a2-3;");
    assert!(m.poll_message(0).is_none());
    assert_eq!(m.stats().frames_sent, 4);
    assert_eq!(m.stats().payload_sent, 4, "one payload byte per frame, counted once written");
    assert_eq!(f.made, 2);
}

#[test]
fn slices_fill_a_fixed_array_and_the_last_audio_sent_is_kept() {
    let mut m = machine(1, 1000);
    let mut f = TextFramer::default();
    for s in 0..3 {
        m.push_frame(frame(s), &mut f);
    }
    m.push_control(b"c;".to_vec(), &mut f);
    m.handle_written(2, 0);
    let mut out: [&[u8]; 2] = [&[]; 2];
    assert_eq!(m.poll_transmit_slices(&mut out), 2);
    assert_eq!(out, [&b"-0;"[..], &b"a1-1;"[..]]);
    assert_eq!(m.last_audio_sent(), None);
    drain(&mut m, 0);
    assert_eq!(m.last_audio_sent().map(Vec::as_slice), Some(&b"a2-2;"[..]));
}

#[test]
fn an_empty_framing_is_not_a_message() {
    struct Nothing;
    impl Framer<F> for Nothing {
        type Bytes = Vec<u8>;
        fn audio(&mut self, _: &[F]) -> Vec<u8> {
            Vec::new()
        }
    }
    let mut m = machine(1, 1000);
    m.push_frame(frame(0), &mut Nothing);
    m.push_control_now(Vec::new());
    assert!(m.is_idle(), "nothing to write");
    assert_eq!(m.waiting_frames(), 0);
}

#[test]
fn a_tighter_lag_budget_takes_effect_at_once() {
    // 20 ms frames, a 2 s budget: 30 frames in the ring (600 ms) are fine...
    let mut m = machine(1, 2_000);
    assert!(!m.is_lagging(30));
    // ...until the listener's profile allows only 150 ms behind live
    m.set_max_lag_us(150_000);
    assert!(m.is_lagging(30));
    assert!(!m.is_lagging(7), "140 ms is within 150 ms");
    assert!(m.is_lagging(8), "160 ms is not");
}

#[test]
fn written_audio_messages_are_recorded_only_when_asked() {
    let mut f = TextFramer::default();
    let mut m = machine(2, 1000);
    for s in 0..4 {
        m.push_frame(frame(s), &mut f);
    }
    drain(&mut m, 5);
    assert_eq!(m.take_writes().count(), 0, "off by default");

    let mut cfg = EgressConfig::new(2, 1_000_000, 20_000);
    cfg.record_writes = true;
    let mut m: ListenerEgress<F, Vec<u8>> = ListenerEgress::new(cfg);
    for s in 0..4 {
        m.push_frame(frame(s), &mut f);
    }
    // half of the first message, then the rest at a later time
    let first = m.poll_transmit().unwrap().len();
    m.handle_written(first - 1, 10);
    assert_eq!(m.take_writes().count(), 0, "a message counts once written whole");
    drain(&mut m, 20);
    let w: Vec<WrittenMessage> = m.take_writes().collect();
    assert_eq!(
        w,
        [
            WrittenMessage { first_seq: 0, frames: 2, bytes: 5, at_us: 20 },
            WrittenMessage { first_seq: 2, frames: 2, bytes: 5, at_us: 20 },
        ]
    );
    assert_eq!(m.take_writes().count(), 0);
}
