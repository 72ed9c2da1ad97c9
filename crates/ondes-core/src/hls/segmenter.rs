//! The segmenter state machine: parts and segments on frame-number boundaries, a bounded
//! window, and the blocking-request decisions of LL-HLS (`_HLS_msn`/`_HLS_part`, preload
//! hints).

use std::collections::VecDeque;

/// How a rung is cut, in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsLayout {
    /// One frame's duration in 48 kHz samples (the MP4 timescale of Opus).
    pub frame_samples: u32,
    /// Frames per part.
    pub frames_per_part: u64,
    /// Parts per segment.
    pub parts_per_segment: u64,
    /// Complete segments kept (and listed); older ones are dropped.
    pub window_segments: usize,
    /// Complete segments (the newest) whose parts are still listed and kept.
    pub part_segments: usize,
}

/// A layout that cannot be cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("the part duration ({part_us} µs) must be a whole number of frames of {frame_us} µs")]
    PartNotFrames { part_us: u64, frame_us: u64 },
    #[error("the segment duration ({segment_us} µs) must be a whole number of parts of {part_us} µs")]
    SegmentNotParts { segment_us: u64, part_us: u64 },
    #[error("the window must keep at least 2 segments (got {0})")]
    Window(usize),
}

impl HlsLayout {
    /// The layout for frames of `frame_us`, parts of `part_us` and segments of `segment_us`.
    pub fn new(
        frame_us: u64,
        part_us: u64,
        segment_us: u64,
        window_segments: usize,
    ) -> Result<Self, LayoutError> {
        if frame_us == 0 || part_us == 0 || !part_us.is_multiple_of(frame_us) {
            return Err(LayoutError::PartNotFrames { part_us, frame_us });
        }
        if segment_us < part_us || !segment_us.is_multiple_of(part_us) {
            return Err(LayoutError::SegmentNotParts { segment_us, part_us });
        }
        if window_segments < 2 {
            return Err(LayoutError::Window(window_segments));
        }
        Ok(HlsLayout {
            frame_samples: (frame_us * 48 / 1000) as u32,
            frames_per_part: part_us / frame_us,
            parts_per_segment: segment_us / part_us,
            window_segments,
            part_segments: window_segments.min(3),
        })
    }

    pub fn frames_per_segment(&self) -> u64 {
        self.frames_per_part * self.parts_per_segment
    }

    /// Duration of a part in seconds.
    pub fn part_secs(&self) -> f64 {
        (self.frames_per_part * u64::from(self.frame_samples)) as f64 / 48_000.0
    }

    /// Duration of a full segment in seconds.
    pub fn segment_secs(&self) -> f64 {
        self.part_secs() * self.parts_per_segment as f64
    }

    /// (media sequence number, part index) of frame `seq`.
    pub fn position(&self, seq: u64) -> (u64, u64) {
        (seq / self.frames_per_segment(), (seq % self.frames_per_segment()) / self.frames_per_part)
    }

    /// The part after (msn, part).
    pub fn next_part(&self, msn: u64, part: u64) -> (u64, u64) {
        if part + 1 >= self.parts_per_segment { (msn + 1, 0) } else { (msn, part + 1) }
    }
}

/// Where a part lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartInfo {
    pub msn: u64,
    pub index: u64,
    /// Decode time of its first sample, in 48 kHz samples (frame number × frame samples).
    pub base_time: u64,
    /// Sequence number of its fragment (parts counted from the stream's start).
    pub fragment_seq: u64,
}

/// A complete part and its muxed bytes.
#[derive(Debug, Clone)]
pub struct Part<P> {
    pub info: PartInfo,
    /// Its duration in 48 kHz samples.
    pub samples: u64,
    /// Completed at (the caller's clock, µs).
    pub completed_us: i64,
    pub payload: P,
}

/// A segment: its parts so far, and whether it is complete.
#[derive(Debug, Clone)]
pub struct Segment<P> {
    pub msn: u64,
    pub parts: Vec<Part<P>>,
    pub complete: bool,
    /// Whether its first part is missing (the segmenter started mid-segment).
    pub partial_start: bool,
}

impl<P> Segment<P> {
    /// Duration in seconds of the parts it has.
    pub fn duration_secs(&self) -> f64 {
        self.parts.iter().map(|p| p.samples).sum::<u64>() as f64 / 48_000.0
    }
}

/// Whether a request for a part (or a playlist that contains it) can be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// It exists now.
    Ready,
    /// It will exist soon: hold the request until then, at most until `deadline_us`.
    Wait { deadline_us: i64 },
    /// It is too far in the future to hold a request for (400).
    TooFar,
    /// It is older than the window (404).
    Gone,
}

/// The segmenter of one rung.
pub struct Segmenter<S, P> {
    layout: HlsLayout,
    /// Complete segments then the open one (last), oldest first.
    segments: VecDeque<Segment<P>>,
    /// Samples of the open part.
    open: Vec<S>,
    /// (msn, part) of the open part, once a frame was pushed.
    open_at: Option<(u64, u64)>,
    /// Frame number the open part starts at.
    open_first_seq: u64,
    last_seq: Option<u64>,
}

impl<S, P: Clone> Segmenter<S, P> {
    pub fn new(layout: HlsLayout) -> Self {
        Segmenter {
            layout,
            segments: VecDeque::new(),
            open: Vec::new(),
            open_at: None,
            open_first_seq: 0,
            last_seq: None,
        }
    }

    pub fn layout(&self) -> &HlsLayout {
        &self.layout
    }

    /// Adds frame `seq`'s sample at `now_us`. The part it completes (or the part a jump in
    /// frame numbers leaves incomplete) is muxed by `mux` and stored; returns the parts
    /// completed. Frames must come in increasing order; an older one is ignored. The first
    /// frames, until a part boundary, are dropped (a part starts on its boundary).
    pub fn push(
        &mut self,
        seq: u64,
        sample: S,
        now_us: i64,
        mut mux: impl FnMut(&PartInfo, &[S]) -> P,
    ) -> Vec<PartInfo> {
        let mut done = Vec::new();
        if self.last_seq.is_some_and(|l| seq <= l) {
            return done;
        }
        if self.last_seq.is_none() && !seq.is_multiple_of(self.layout.frames_per_part) {
            return done;
        }
        let at = self.layout.position(seq);
        if self.open_at.is_some_and(|o| o != at) && !self.open.is_empty() {
            // a jump: the open part ends short
            done.extend(self.close_open(now_us, &mut mux));
        }
        if self.open.is_empty() {
            self.open_at = Some(at);
            self.open_first_seq = seq;
        }
        self.open.push(sample);
        self.last_seq = Some(seq);
        if (seq + 1).is_multiple_of(self.layout.frames_per_part) {
            done.extend(self.close_open(now_us, &mut mux));
        }
        done
    }

    fn close_open(&mut self, now_us: i64, mux: &mut impl FnMut(&PartInfo, &[S]) -> P) -> Option<PartInfo> {
        let (msn, index) = self.open_at?;
        let samples = std::mem::take(&mut self.open);
        let fs = u64::from(self.layout.frame_samples);
        let info = PartInfo {
            msn,
            index,
            base_time: self.open_first_seq * fs,
            fragment_seq: self.open_first_seq / self.layout.frames_per_part + 1,
        };
        let payload = mux(&info, &samples);
        let part = Part { info, samples: samples.len() as u64 * fs, completed_us: now_us, payload };
        // earlier segments still open (a jump) are complete now
        for s in self.segments.iter_mut() {
            if s.msn < msn {
                s.complete = true;
            }
        }
        match self.segments.back_mut() {
            Some(s) if s.msn == msn => s.parts.push(part),
            _ => self.segments.push_back(Segment {
                msn,
                parts: vec![part],
                complete: false,
                partial_start: index != 0,
            }),
        }
        if let Some(s) = self.segments.back_mut()
            && index + 1 == self.layout.parts_per_segment
        {
            s.complete = true;
        }
        self.trim();
        Some(info)
    }

    /// Drops segments past the window and the part lists nobody may ask for any more.
    fn trim(&mut self) {
        let complete = self.segments.iter().filter(|s| s.complete).count();
        let mut extra = complete.saturating_sub(self.layout.window_segments);
        while extra > 0 && self.segments.front().is_some_and(|s| s.complete) {
            self.segments.pop_front();
            extra -= 1;
        }
    }

    /// The window: complete segments then the open one.
    pub fn segments(&self) -> impl Iterator<Item = &Segment<P>> {
        self.segments.iter()
    }

    /// Segment `msn`, if in the window.
    pub fn segment(&self, msn: u64) -> Option<&Segment<P>> {
        self.segments.iter().find(|s| s.msn == msn)
    }

    /// Part (`msn`, `index`), if in the window.
    pub fn part(&self, msn: u64, index: u64) -> Option<&Part<P>> {
        self.segment(msn)?.parts.iter().find(|p| p.info.index == index)
    }

    /// The newest complete part's position.
    pub fn last_part(&self) -> Option<(u64, u64)> {
        let s = self.segments.back()?;
        s.parts.last().map(|p| (s.msn, p.info.index))
    }

    /// The next part to be completed (what `EXT-X-PRELOAD-HINT` names).
    pub fn next_part(&self) -> Option<(u64, u64)> {
        self.last_part().map(|(m, p)| self.layout.next_part(m, p))
    }

    /// The newest complete segment's number.
    pub fn last_complete_msn(&self) -> Option<u64> {
        self.segments.iter().rev().find(|s| s.complete).map(|s| s.msn)
    }

    /// Segments complete now.
    pub fn complete_segments(&self) -> usize {
        self.segments.iter().filter(|s| s.complete).count()
    }

    /// Parts held in memory now (the window's; bounded by the layout).
    pub fn parts_held(&self) -> usize {
        self.segments.iter().map(|s| s.parts.len()).sum()
    }

    /// Whether part (`msn`, `part`) — or, with `part == None`, the whole segment `msn` —
    /// exists, for a request made at `now_us`. A part index past the segment's last means
    /// the next segment's first part. Requests up to two segments ahead are held (at most
    /// `hold_us`, the caller's limit; LL-HLS says three target durations); further ones are
    /// refused.
    pub fn availability(&self, msn: u64, part: Option<u64>, now_us: i64, hold_us: i64) -> Availability {
        let (msn, part) = match part {
            Some(p) if p >= self.layout.parts_per_segment => (msn.saturating_add(1), Some(0)),
            p => (msn, p),
        };
        let wait = Availability::Wait { deadline_us: now_us + hold_us };
        let Some((last_msn, last_part)) = self.last_part() else {
            // nothing complete yet: what is near the frames seen so far will come
            let near = self.last_seq.is_none_or(|s| msn <= self.layout.position(s).0 + 2);
            return if near { wait } else { Availability::TooFar };
        };
        let oldest = self.segments.front().map_or(0, |s| s.msn);
        if msn < oldest {
            return Availability::Gone;
        }
        let exists = match part {
            Some(p) => (msn, p) <= (last_msn, last_part),
            None => self.last_complete_msn().is_some_and(|c| msn <= c),
        };
        if exists {
            // a part the segmenter skipped (it started later) is not coming
            return match part {
                Some(p) if self.part(msn, p).is_none() => Availability::Gone,
                _ => Availability::Ready,
            };
        }
        if msn > last_msn.saturating_add(2) { Availability::TooFar } else { wait }
    }
}
