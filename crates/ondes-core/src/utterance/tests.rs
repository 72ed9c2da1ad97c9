use super::*;

fn q() -> UtteranceQueue<u32> {
    UtteranceQueue::new(4)
}

const T: u64 = 20_000;

#[test]
fn source_plays_until_the_first_frame_of_speech_then_speech_then_source() {
    let mut q = q();
    let id = q.enqueue(false, 0).unwrap();
    // the engine is starting: the source keeps playing
    assert_eq!(q.poll_frame(0), Poll { play: Play::Source, marks: vec![] });
    assert_eq!(q.phase(id), Phase::Queued);
    q.push_frame(id, 1);
    q.push_frame(id, 2);
    let p = q.poll_frame(T);
    assert_eq!(p.play, Play::Speech(1));
    assert_eq!(p.marks, vec![UtteranceMark::Start { id }]);
    assert_eq!(q.phase(id), Phase::Playing { started_us: T });
    assert!(q.is_speaking());
    assert_eq!(q.poll_frame(2 * T), Poll { play: Play::Speech(2), marks: vec![] });
    // synthesis behind real time: silence holds the place, counted
    assert_eq!(q.poll_frame(3 * T).play, Play::Silence);
    assert_eq!(q.stats().underrun_frames, 1);
    q.complete(id);
    let p = q.poll_frame(4 * T);
    assert_eq!(p.play, Play::Source);
    assert_eq!(p.marks, vec![UtteranceMark::End { id, interrupted: false }]);
    assert!(!q.is_speaking());
    assert_eq!(q.phase(id), Phase::Gone);
    assert_eq!(q.stats().completed, 1);
}

#[test]
fn utterances_play_in_order_back_to_back() {
    let mut q = q();
    let a = q.enqueue(false, 0).unwrap();
    let b = q.enqueue(false, 0).unwrap();
    // b is synthesised first, but waits its turn
    q.push_frame(b, 20);
    assert_eq!(q.poll_frame(0).play, Play::Source);
    assert_eq!(q.position(b), Some(1));
    q.push_frame(a, 10);
    q.complete(a);
    q.complete(b);
    let p = q.poll_frame(T);
    assert_eq!((p.play, p.marks), (Play::Speech(10), vec![UtteranceMark::Start { id: a }]));
    let p = q.poll_frame(2 * T);
    assert_eq!(p.play, Play::Speech(20));
    assert_eq!(
        p.marks,
        vec![UtteranceMark::End { id: a, interrupted: false }, UtteranceMark::Start { id: b }]
    );
    let p = q.poll_frame(3 * T);
    assert_eq!((p.play, p.marks), (Play::Source, vec![UtteranceMark::End { id: b, interrupted: false }]));
}

#[test]
fn interrupt_cuts_the_playing_utterance_and_drops_the_queue() {
    let mut q = q();
    let a = q.enqueue(false, 0).unwrap();
    let b = q.enqueue(false, 0).unwrap();
    q.push_frame(a, 1);
    q.push_frame(a, 2);
    q.poll_frame(0);
    let c = q.enqueue(true, T).unwrap();
    assert_eq!(q.phase(a), Phase::Gone);
    assert_eq!(q.phase(b), Phase::Gone);
    // synthesis of the cut ones learns it should stop
    assert!(!q.push_frame(a, 3));
    assert!(!q.push_frame(b, 3));
    // the cut is told with the next frame, whatever plays then
    let p = q.poll_frame(T);
    assert_eq!((p.play, p.marks), (Play::Source, vec![UtteranceMark::End { id: a, interrupted: true }]));
    q.push_frame(c, 7);
    let p = q.poll_frame(2 * T);
    assert_eq!((p.play, p.marks), (Play::Speech(7), vec![UtteranceMark::Start { id: c }]));
    let s = q.stats();
    assert_eq!((s.interrupted, s.dropped, s.started), (1, 1, 2));
}

#[test]
fn a_failed_engine_ends_its_utterance_and_the_next_one_plays() {
    let mut q = q();
    let a = q.enqueue(false, 0).unwrap();
    let b = q.enqueue(false, 0).unwrap();
    q.push_frame(a, 1);
    q.poll_frame(0);
    q.fail(a);
    q.push_frame(b, 2);
    let p = q.poll_frame(T);
    assert_eq!(
        p.marks,
        vec![UtteranceMark::End { id: a, interrupted: true }, UtteranceMark::Start { id: b }]
    );
    assert_eq!(p.play, Play::Speech(2));
    // failing before its start is silent for listeners
    let c = q.enqueue(false, T).unwrap();
    q.fail(c);
    assert_eq!(q.stats().dropped, 1);
}

#[test]
fn an_utterance_without_audio_is_dropped_without_marks() {
    let mut q = q();
    let a = q.enqueue(false, 0).unwrap();
    q.complete(a);
    assert_eq!(q.poll_frame(0), Poll { play: Play::Source, marks: vec![] });
    assert!(q.is_empty());
}

#[test]
fn the_queue_is_bounded() {
    let mut q = UtteranceQueue::<u32>::new(1);
    q.enqueue(false, 0).unwrap();
    q.enqueue(false, 0).unwrap();
    assert_eq!(q.enqueue(false, 0), Err(QueueError::Full { max: 1 }));
    // barge-in always gets through
    assert!(q.enqueue(true, 0).is_ok());
    assert_eq!(q.len(), 1);
}
