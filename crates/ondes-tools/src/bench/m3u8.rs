//! The little of an HLS media playlist the LL-HLS load client reads: the parts listed (with
//! their media sequence number and index), the preload hint, and how many parts a segment
//! has. Pure parsing, no IO.

/// One `EXT-X-PART` (or the `EXT-X-PRELOAD-HINT`), located in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct PartRef {
    /// Media sequence number of the segment the part belongs to.
    pub msn: u64,
    /// Index of the part in its segment.
    pub index: u64,
    pub uri: String,
    /// Seconds (0 for the preload hint).
    pub duration: f64,
}

/// What a media playlist says about parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaPlaylist {
    pub parts: Vec<PartRef>,
    pub preload_hint: Option<PartRef>,
    /// Parts per segment, from a complete segment whose parts are all listed (from index 0).
    pub parts_per_segment: Option<u64>,
    /// `EXT-X-PART-INF:PART-TARGET`, seconds.
    pub part_target: Option<f64>,
    /// `EXT-X-SERVER-CONTROL` has `CAN-SKIP-UNTIL`: delta updates (`_HLS_skip=YES`) are served.
    pub can_skip: bool,
}

impl MediaPlaylist {
    /// Parses a media playlist. Part indices come from ondes's names (`seg{M}.{P}.m4s`) when
    /// they match, else from the order within the segment.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some("#EXTM3U") {
            return Err("not_m3u8".into());
        }
        let mut out = MediaPlaylist::default();
        let mut msn: Option<u64> = None;
        let mut in_segment: Vec<u64> = Vec::new();
        let mut after_extinf = false;
        for line in lines {
            if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                msn = Some(v.parse().map_err(|_| "bad_media_sequence".to_string())?);
            } else if let Some(v) = line.strip_prefix("#EXT-X-PART-INF:") {
                out.part_target = attr(v, "PART-TARGET").and_then(|t| t.parse().ok());
            } else if let Some(v) = line.strip_prefix("#EXT-X-SERVER-CONTROL:") {
                out.can_skip = attr(v, "CAN-SKIP-UNTIL").is_some();
            } else if let Some(v) = line.strip_prefix("#EXT-X-SKIP:") {
                let n: u64 = attr(v, "SKIPPED-SEGMENTS").and_then(|n| n.parse().ok()).unwrap_or(0);
                msn = msn.map(|m| m + n);
            } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
                let m = msn.ok_or("part_before_media_sequence")?;
                let uri = attr(v, "URI").ok_or("part_without_uri")?.to_string();
                let index = named_index(&uri, m).unwrap_or(in_segment.len() as u64);
                let duration = attr(v, "DURATION").and_then(|d| d.parse().ok()).unwrap_or(0.0);
                in_segment.push(index);
                out.parts.push(PartRef { msn: m, index, uri, duration });
            } else if let Some(v) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
                if attr(v, "TYPE") == Some("PART") {
                    let m = msn.ok_or("hint_before_media_sequence")?;
                    let uri = attr(v, "URI").ok_or("hint_without_uri")?.to_string();
                    let index = named_index(&uri, m).unwrap_or(in_segment.len() as u64);
                    // a hint named in the next segment (ondes names it so)
                    let m = named_msn(&uri).unwrap_or(m);
                    out.preload_hint = Some(PartRef { msn: m, index, uri, duration: 0.0 });
                }
            } else if line.starts_with("#EXTINF:") {
                after_extinf = true;
            } else if !line.starts_with('#') && after_extinf {
                // a segment URI: the segment is complete
                let m = msn.ok_or("segment_before_media_sequence")?;
                let whole =
                    !in_segment.is_empty() && in_segment.iter().enumerate().all(|(i, &p)| p == i as u64);
                if whole && out.parts_per_segment.is_none() {
                    out.parts_per_segment = Some(in_segment.len() as u64);
                }
                in_segment.clear();
                after_extinf = false;
                msn = Some(m + 1);
            }
        }
        Ok(out)
    }
}

/// The value of attribute `name` in an attribute list (`A=1,B="x,y"`), quotes removed.
fn attr<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q[end + 1..].strip_prefix(',').unwrap_or(""))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

/// `seg{M}.{P}.m4s` → M.
fn named_msn(uri: &str) -> Option<u64> {
    let name = uri.rsplit('/').next()?.split('?').next()?;
    let (m, _) = name.strip_prefix("seg")?.strip_suffix(".m4s")?.split_once('.')?;
    m.parse().ok()
}

/// `seg{M}.{P}.m4s` → P, when M is `msn` or the next segment.
fn named_index(uri: &str, msn: u64) -> Option<u64> {
    let name = uri.rsplit('/').next()?.split('?').next()?;
    let (m, p) = name.strip_prefix("seg")?.strip_suffix(".m4s")?.split_once('.')?;
    let m: u64 = m.parse().ok()?;
    (m == msn || m == msn + 1).then(|| p.parse().ok()).flatten()
}

/// Which parts one client still has to fetch, and which it missed. A part is identified by
/// its position in the stream, `msn × parts_per_segment + index`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartTracker {
    /// The next part this client wants.
    pub next: Option<u64>,
    /// Parts that rolled out of the playlist (or answered 404) before the client got them.
    pub missed: u64,
}

impl PartTracker {
    /// The parts of `pl` to fetch now, in order (`pps` = parts per segment). The first
    /// playlist starts the client at its newest listed part (the live edge); later, a listed
    /// part beyond `next` means the ones between are gone: they count as missed.
    pub fn to_fetch<'a>(&mut self, pl: &'a MediaPlaylist, pps: u64) -> Vec<&'a PartRef> {
        let pos = |p: &PartRef| p.msn * pps + p.index;
        let Some(newest) = pl.parts.last() else { return Vec::new() };
        let next = *self.next.get_or_insert(pos(newest));
        let want: Vec<&PartRef> = pl.parts.iter().filter(|p| pos(p) >= next).collect();
        if let Some(first) = want.first() {
            self.missed += pos(first) - next;
        }
        want
    }

    /// Part at `pos` was fetched (or answered 404: `got = false`, missed).
    pub fn done(&mut self, pos: u64, got: bool) {
        if !got {
            self.missed += 1;
        }
        self.next = Some(pos + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playlist(first: u64, segments: u64, parts_last: u64) -> String {
        // segments `first..first+segments` complete with 5 parts, then one of `parts_last`
        let mut s = String::from(
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.200\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600,CAN-SKIP-UNTIL=6.0\n",
        );
        s.push_str(&format!("#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-MAP:URI=\"init.mp4\"\n"));
        for m in first..first + segments {
            for p in 0..5 {
                s.push_str(&format!("#EXT-X-PART:DURATION=0.200,URI=\"seg{m}.{p}.m4s\",INDEPENDENT=YES\n"));
            }
            s.push_str(&format!("#EXTINF:1.000,\nseg{m}.m4s\n"));
        }
        let m = first + segments;
        for p in 0..parts_last {
            s.push_str(&format!("#EXT-X-PART:DURATION=0.200,URI=\"seg{m}.{p}.m4s\",INDEPENDENT=YES\n"));
        }
        let (hm, hp) = if parts_last == 5 { (m + 1, 0) } else { (m, parts_last) };
        s.push_str(&format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg{hm}.{hp}.m4s\"\n"));
        s
    }

    #[test]
    fn parses_parts_hint_and_parts_per_segment() {
        let pl = MediaPlaylist::parse(&playlist(10, 2, 3)).unwrap();
        assert_eq!(pl.parts.len(), 13);
        assert_eq!((pl.parts[0].msn, pl.parts[0].index), (10, 0));
        let last = pl.parts.last().unwrap();
        assert_eq!((last.msn, last.index, last.uri.as_str()), (12, 2, "seg12.2.m4s"));
        let hint = pl.preload_hint.unwrap();
        assert_eq!((hint.msn, hint.index), (12, 3));
        assert_eq!(pl.parts_per_segment, Some(5));
        assert_eq!(pl.part_target, Some(0.2));
        assert!(pl.can_skip);
        assert!(MediaPlaylist::parse("hello").is_err());
    }

    #[test]
    fn skip_tag_advances_the_sequence() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n\
                    #EXT-X-PART:DURATION=0.2,URI=\"a.m4s\"\n";
        let pl = MediaPlaylist::parse(text).unwrap();
        assert_eq!((pl.parts[0].msn, pl.parts[0].index), (7, 0));
    }

    #[test]
    fn tracker_starts_at_the_live_edge_and_counts_parts_that_rolled_out() {
        let mut t = PartTracker::default();
        let pl = MediaPlaylist::parse(&playlist(10, 2, 3)).unwrap();
        let want: Vec<u64> = t.to_fetch(&pl, 5).iter().map(|p| p.msn * 5 + p.index).collect();
        assert_eq!(want, [62]);
        t.done(62, true);
        // the next playlist lists part 63 and 64: both wanted, nothing missed
        let pl = MediaPlaylist::parse(&playlist(10, 2, 5)).unwrap();
        let want: Vec<u64> = t.to_fetch(&pl, 5).iter().map(|p| p.msn * 5 + p.index).collect();
        assert_eq!(want, [63, 64]);
        t.done(63, true);
        t.done(64, false);
        assert_eq!(t.missed, 1, "a 404 is a missed part");
        // the client paused: the playlist now starts at segment 20, parts 65..100 rolled out
        let pl = MediaPlaylist::parse(&playlist(20, 0, 2)).unwrap();
        let want: Vec<u64> = t.to_fetch(&pl, 5).iter().map(|p| p.msn * 5 + p.index).collect();
        assert_eq!(want, [100, 101]);
        assert_eq!(t.missed, 1 + 35);
    }
}
