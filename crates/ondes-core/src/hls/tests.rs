//! The segmenter in simulated time: 20 ms frames, 200 ms parts, 1 s segments.

use super::playlist::{PlaylistOptions, media_playlist};
use super::*;

const FRAME_US: i64 = 20_000;

fn layout(window: usize) -> HlsLayout {
    HlsLayout::new(20_000, 200_000, 1_000_000, window).unwrap()
}

/// Pushes frames `from..to` (frame `n` at `n × 20 ms`); muxing records the frames of each part.
fn feed(s: &mut Segmenter<u64, Vec<u64>>, from: u64, to: u64) -> Vec<PartInfo> {
    let mut done = Vec::new();
    for seq in from..to {
        done.extend(s.push(seq, seq, seq as i64 * FRAME_US, |_, frames| frames.to_vec()));
    }
    done
}

#[test]
fn layout_must_be_whole_frames_and_parts() {
    assert!(matches!(HlsLayout::new(20_000, 210_000, 1_050_000, 6), Err(LayoutError::PartNotFrames { .. })));
    assert!(matches!(HlsLayout::new(20_000, 200_000, 900_000, 6), Err(LayoutError::SegmentNotParts { .. })));
    assert!(matches!(HlsLayout::new(20_000, 200_000, 1_000_000, 1), Err(LayoutError::Window(1))));
    let l = layout(6);
    assert_eq!((l.frames_per_part, l.parts_per_segment, l.frame_samples), (10, 5, 960));
    assert_eq!(l.position(57), (1, 0));
    assert_eq!(l.position(49), (0, 4));
}

#[test]
fn parts_close_on_their_boundaries_and_start_aligned() {
    let mut s = Segmenter::new(layout(6));
    // starts mid-part: frames before the first boundary are not used
    assert!(feed(&mut s, 33, 40).is_empty());
    let done = feed(&mut s, 40, 50);
    assert_eq!(done.len(), 1, "the part closes with its 10th frame");
    let p = s.part(0, 4).unwrap();
    assert_eq!(p.payload, (40..50).collect::<Vec<_>>());
    assert_eq!(p.info.base_time, 40 * 960);
    assert_eq!(p.samples, 9600);
    assert_eq!(p.completed_us, 49 * FRAME_US, "completed at its last frame, not at the next one");
    assert!(s.segment(0).unwrap().complete && s.segment(0).unwrap().partial_start);
    let done = feed(&mut s, 50, 110);
    assert_eq!(
        done.iter().map(|d| (d.msn, d.index)).collect::<Vec<_>>()[..6],
        [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0)]
    );
    assert_eq!(s.last_complete_msn(), Some(1));
    assert_eq!(s.next_part(), Some((2, 1)));
    assert_eq!(s.segment(1).unwrap().duration_secs(), 1.0);
}

#[test]
fn a_jump_in_frames_closes_the_open_part_short() {
    let mut s = Segmenter::new(layout(6));
    feed(&mut s, 0, 5);
    let done = feed(&mut s, 25, 30);
    assert_eq!(done.len(), 2, "the short part (0,0) and the part (0,2) that ends at 29");
    assert_eq!(s.part(0, 0).unwrap().samples, 5 * 960);
    assert!(s.part(0, 1).is_none());
}

#[test]
fn blocking_requests_are_released_when_their_part_exists() {
    let mut s = Segmenter::new(layout(6));
    let hold = 3_000_000;
    feed(&mut s, 0, 60); // segment 0 and part (1,0) complete
    assert_eq!(s.availability(1, Some(0), 0, hold), Availability::Ready);
    // the next part: held until frame 69 is pushed, not one frame earlier
    let now = 60 * FRAME_US;
    assert_eq!(s.availability(1, Some(1), now, hold), Availability::Wait { deadline_us: now + hold });
    feed(&mut s, 60, 69);
    assert!(matches!(s.availability(1, Some(1), now, hold), Availability::Wait { .. }));
    feed(&mut s, 69, 70);
    assert_eq!(s.availability(1, Some(1), now, hold), Availability::Ready);
    // a part index past the segment's end is the next segment's first part
    assert!(matches!(s.availability(1, Some(5), now, hold), Availability::Wait { .. }));
    // whole segment 1: only when its last part is done
    assert!(matches!(s.availability(1, None, now, hold), Availability::Wait { .. }));
    feed(&mut s, 70, 100);
    assert_eq!(s.availability(1, None, now, hold), Availability::Ready);
    assert!(matches!(s.availability(1, Some(5), now, hold), Availability::Wait { .. }));
    feed(&mut s, 100, 110);
    assert_eq!(s.availability(1, Some(5), now, hold), Availability::Ready);
    // far in the future: refused; before the window: gone
    assert_eq!(s.availability(9, Some(0), now, hold), Availability::TooFar);
    assert_eq!(s.availability(u64::MAX, Some(u64::MAX), now, hold), Availability::TooFar);
    feed(&mut s, 100, 600);
    assert_eq!(s.availability(0, Some(0), now, hold), Availability::Gone);
}

#[test]
fn memory_is_bounded_by_the_window() {
    let mut s = Segmenter::new(layout(4));
    feed(&mut s, 0, 50 * 60 * 10); // ten minutes
    assert_eq!(s.complete_segments(), 4);
    assert!(s.parts_held() <= 5 * 5, "{} parts held", s.parts_held());
    let first = s.segments().next().unwrap().msn;
    assert_eq!(first, 600 - 4);
}

#[test]
fn playlist_has_parts_hint_and_server_control() {
    let mut s = Segmenter::new(layout(12));
    feed(&mut s, 0, 50 * 12 + 20); // 12 segments and 2 parts
    let ll = media_playlist(&s, PlaylistOptions { low_latency: true, skip: false });
    assert!(
        ll.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600,CAN-SKIP-UNTIL=6.0"),
        "{ll}"
    );
    assert!(ll.contains("#EXT-X-PART-INF:PART-TARGET=0.200"));
    assert!(ll.contains("#EXT-X-MAP:URI=\"init.mp4\""));
    assert!(ll.contains("#EXT-X-PART:DURATION=0.200,URI=\"seg12.1.m4s\",INDEPENDENT=YES"), "{ll}");
    assert!(ll.trim_end().ends_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg12.2.m4s\""), "{ll}");
    assert!(!ll.contains("seg0.0.m4s"), "old segments are listed without parts");
    assert!(ll.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{ll}");
    assert_eq!(ll.matches("#EXTINF:1.000,").count(), 12);
    let delta = media_playlist(&s, PlaylistOptions { low_latency: true, skip: true });
    // 12.4 s listed: the segments ending 6 s or more before the end are skipped
    assert!(delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=6\n"), "{delta}");
    assert!(!delta.contains("\nseg5.m4s\n") && delta.contains("\nseg6.m4s\n"), "{delta}");
    let plain = media_playlist(&s, PlaylistOptions::default());
    assert!(!plain.contains("EXT-X-PART") && !plain.contains("PRELOAD") && !plain.contains("SERVER-CONTROL"));
    assert!(plain.contains("seg11.m4s") && !plain.contains("seg12.m4s"), "{plain}");
}
