//! The speech queue of one stream (`POST /api/streams/{id}/say`): which utterance plays
//! now, which wait, what an interrupt cuts, and when the stream's own source (a publisher,
//! a tone, a file) plays again.
//!
//! Sans-IO: synthesis pushes frames in with [`UtteranceQueue::push_frame`] as they are
//! produced; the stream's producer asks [`UtteranceQueue::poll_frame`] once per frame period
//! whether this period's frame is speech, the source's own audio, or silence. Time is an
//! argument (µs, any origin), so every decision is tested without a clock.
//!
//! Rules:
//! - utterances play one after the other, in the order they were queued;
//! - an utterance starts at the first period where synthesis has produced a frame for it;
//!   until then the source keeps playing (nobody hears silence while an engine starts);
//! - once started it holds the stream until its last frame: if synthesis falls behind real
//!   time the period is silence (counted as an underrun), not the source;
//! - an interrupt (barge-in) ends the playing utterance at once and drops every queued one;
//! - when nothing is queued, the source plays again.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

/// What a listener is told about an utterance, attached to the frame it happens before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UtteranceMark {
    /// This frame is the utterance's first.
    Start { id: u64 },
    /// The utterance's audio ended before this frame (`interrupted`: it was cut short).
    End { id: u64, interrupted: bool },
}

/// What the stream plays during one frame period.
#[derive(Debug, Clone, PartialEq)]
pub enum Play<F> {
    /// The source's own audio.
    Source,
    /// A frame of speech.
    Speech(F),
    /// Speech holds the stream but synthesis is behind real time.
    Silence,
}

/// The answer for one period: what plays, and the marks that go before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Poll<F> {
    pub play: Play<F>,
    pub marks: Vec<UtteranceMark>,
}

/// Why an utterance was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("{max} utterances are already waiting on this stream; wait for one to end or interrupt")]
    Full { max: usize },
}

/// Where an utterance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its turn or for its first frame of speech.
    Queued,
    /// Its first frame has been played (`started_us`).
    Playing { started_us: u64 },
    /// Gone: played to the end, cut, dropped or failed.
    Gone,
}

#[derive(Debug)]
struct Utterance<F> {
    id: u64,
    queued_us: u64,
    started_us: Option<u64>,
    frames: VecDeque<F>,
    /// Synthesis has produced everything.
    complete: bool,
}

/// Counters since the queue was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub queued: u64,
    pub started: u64,
    pub completed: u64,
    pub interrupted: u64,
    /// Queued utterances dropped by an interrupt or by a failure before they started.
    pub dropped: u64,
    /// Periods of silence while an utterance played (synthesis slower than real time).
    pub underrun_frames: u64,
}

/// The utterance queue of one stream (see the module docs).
#[derive(Debug)]
pub struct UtteranceQueue<F> {
    next_id: u64,
    items: VecDeque<Utterance<F>>,
    /// Marks produced between two polls (an interrupt, a failure): sent with the next frame.
    pending: Vec<UtteranceMark>,
    max_waiting: usize,
    stats: QueueStats,
}

impl<F> UtteranceQueue<F> {
    /// A queue holding at most `max_waiting` utterances besides the one playing.
    pub fn new(max_waiting: usize) -> Self {
        UtteranceQueue {
            next_id: 1,
            items: VecDeque::new(),
            pending: Vec::new(),
            max_waiting,
            stats: QueueStats::default(),
        }
    }

    /// Changes how many utterances may wait (those already waiting stay).
    pub fn set_max_waiting(&mut self, max_waiting: usize) {
        self.max_waiting = max_waiting;
    }

    /// Queues a new utterance at `now_us` and returns its id. With `interrupt`, the playing
    /// utterance is cut and every queued one dropped first (barge-in), so the new one is next.
    pub fn enqueue(&mut self, interrupt: bool, now_us: u64) -> Result<u64, QueueError> {
        if interrupt {
            self.interrupt();
        }
        if self.items.len() > self.max_waiting {
            return Err(QueueError::Full { max: self.max_waiting });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.items.push_back(Utterance {
            id,
            queued_us: now_us,
            started_us: None,
            frames: VecDeque::new(),
            complete: false,
        });
        self.stats.queued += 1;
        Ok(id)
    }

    /// Cuts the playing utterance and drops the queued ones; returns the id cut, if any.
    pub fn interrupt(&mut self) -> Option<u64> {
        let mut cut = None;
        for u in self.items.drain(..) {
            if u.started_us.is_some() {
                self.pending.push(UtteranceMark::End { id: u.id, interrupted: true });
                self.stats.interrupted += 1;
                cut = Some(u.id);
            } else {
                self.stats.dropped += 1;
            }
        }
        cut
    }

    /// A frame of speech for utterance `id`. `false`: the utterance is gone (cut, dropped,
    /// failed), so synthesis should stop.
    pub fn push_frame(&mut self, id: u64, frame: F) -> bool {
        match self.items.iter_mut().find(|u| u.id == id) {
            Some(u) => {
                u.frames.push_back(frame);
                true
            }
            None => false,
        }
    }

    /// Synthesis of `id` produced everything: the utterance ends after its last frame.
    pub fn complete(&mut self, id: u64) {
        if let Some(u) = self.items.iter_mut().find(|u| u.id == id) {
            u.complete = true;
        }
    }

    /// Synthesis of `id` failed: it is removed; if it was playing, it ends (as interrupted).
    pub fn fail(&mut self, id: u64) {
        if let Some(i) = self.items.iter().position(|u| u.id == id)
            && let Some(u) = self.items.remove(i)
        {
            if u.started_us.is_some() {
                self.pending.push(UtteranceMark::End { id, interrupted: true });
                self.stats.interrupted += 1;
            } else {
                self.stats.dropped += 1;
            }
        }
    }

    /// What plays in the period starting at `now_us`; call once per frame period.
    pub fn poll_frame(&mut self, now_us: u64) -> Poll<F> {
        let mut marks = std::mem::take(&mut self.pending);
        loop {
            let Some(head) = self.items.front_mut() else {
                return Poll { play: Play::Source, marks };
            };
            if let Some(frame) = head.frames.pop_front() {
                if head.started_us.is_none() {
                    head.started_us = Some(now_us);
                    self.stats.started += 1;
                    marks.push(UtteranceMark::Start { id: head.id });
                }
                return Poll { play: Play::Speech(frame), marks };
            }
            if !head.complete {
                if head.started_us.is_some() {
                    self.stats.underrun_frames += 1;
                    return Poll { play: Play::Silence, marks };
                }
                // not started: the source plays while the engine warms up
                return Poll { play: Play::Source, marks };
            }
            // complete and drained
            let id = head.id;
            if head.started_us.is_some() {
                marks.push(UtteranceMark::End { id, interrupted: false });
                self.stats.completed += 1;
            } else {
                self.stats.dropped += 1;
            }
            self.items.pop_front();
        }
    }

    /// Where utterance `id` is.
    pub fn phase(&self, id: u64) -> Phase {
        match self.items.iter().find(|u| u.id == id) {
            Some(Utterance { started_us: Some(t), .. }) => Phase::Playing { started_us: *t },
            Some(_) => Phase::Queued,
            None => Phase::Gone,
        }
    }

    /// Utterances ahead of `id` (0: it is playing or plays next).
    pub fn position(&self, id: u64) -> Option<usize> {
        self.items.iter().position(|u| u.id == id)
    }

    /// When `id` was queued.
    pub fn queued_at(&self, id: u64) -> Option<u64> {
        self.items.iter().find(|u| u.id == id).map(|u| u.queued_us)
    }

    /// Frames of speech synthesised for `id` and not played yet.
    pub fn buffered_frames(&self, id: u64) -> usize {
        self.items.iter().find(|u| u.id == id).map_or(0, |u| u.frames.len())
    }

    /// Whether speech holds the stream now (an utterance has started and not ended).
    pub fn is_speaking(&self) -> bool {
        self.items.front().is_some_and(|u| u.started_us.is_some())
    }

    /// Utterances playing or waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn stats(&self) -> QueueStats {
        self.stats
    }
}
