//! Channel-count conversion for interleaved audio.
//!
//! Streams in ondes are mono or stereo, while inputs can be anything from mono speech to 5.1
//! films. The rules are deliberately simple and predictable rather than a full downmix matrix:
//!
//! | from → to | rule |
//! |---|---|
//! | N → N | copy |
//! | N → 1 | average of all channels (no clipping possible, unlike a sum) |
//! | 1 → M | the mono signal in every output channel |
//! | N → 2 (N > 2) | the first two channels (front left/right in WAV, FLAC, Vorbis and MP3 order) |
//! | N → M, other | the first `min(N, M)` channels, extra output channels silent |
//!
//! Taking front L/R for N → 2 drops the centre channel's dialogue of a 5.1 mix; that is the
//! accepted trade-off for not guessing a layout that the decoder may not even report.

/// Converts interleaved `input` from `from_channels` to `to_channels`, appending to `out`.
///
/// A trailing partial frame in `input` (length not a multiple of `from_channels`) is ignored,
/// and a channel count of zero produces nothing: both are caller bugs that must not panic on an
/// audio thread.
pub fn remix(input: &[f32], from_channels: usize, to_channels: usize, out: &mut Vec<f32>) {
    if from_channels == 0 || to_channels == 0 {
        return;
    }
    let frames = input.chunks_exact(from_channels);
    out.reserve(frames.len() * to_channels);
    match (from_channels, to_channels) {
        (f, t) if f == t => out.extend_from_slice(&input[..frames.len() * f]),
        (2, 1) => out.extend(frames.map(|fr| (fr[0] + fr[1]) * 0.5)),
        (1, 2) => {
            for &x in input {
                out.extend_from_slice(&[x, x]);
            }
        }
        (f, 1) => {
            let scale = 1.0 / f as f32;
            out.extend(frames.map(|fr| fr.iter().sum::<f32>() * scale));
        }
        (1, t) => {
            for &x in input {
                out.extend(std::iter::repeat_n(x, t));
            }
        }
        (f, t) => {
            let keep = f.min(t);
            for fr in frames {
                out.extend_from_slice(&fr[..keep]);
                out.extend(std::iter::repeat_n(0.0, t - keep));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::remix;

    fn run(input: &[f32], from: usize, to: usize) -> Vec<f32> {
        let mut out = vec![9.0];
        remix(input, from, to, &mut out);
        assert_eq!(out.remove(0), 9.0, "remix must append, not overwrite");
        out
    }

    #[test]
    fn same_count_copies() {
        assert_eq!(run(&[0.1, 0.2, 0.3, 0.4], 2, 2), [0.1, 0.2, 0.3, 0.4]);
    }

    #[test]
    fn mono_to_stereo_duplicates() {
        assert_eq!(run(&[0.1, -0.2], 1, 2), [0.1, 0.1, -0.2, -0.2]);
    }

    #[test]
    fn stereo_to_mono_averages() {
        assert_eq!(run(&[1.0, 0.0, 0.5, -0.5, 1.0, 1.0], 2, 1), [0.5, 0.0, 1.0]);
    }

    #[test]
    fn many_to_stereo_takes_first_two() {
        let six = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6];
        assert_eq!(run(&six, 6, 2), [0.1, 0.2, 1.1, 1.2]);
    }

    #[test]
    fn many_to_mono_averages_all() {
        let out = run(&[0.3, 0.6, 0.9, -0.3, -0.6, -0.9], 3, 1);
        assert!((out[0] - 0.6).abs() < 1e-6 && (out[1] + 0.6).abs() < 1e-6, "{out:?}");
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn other_counts_keep_leading_channels() {
        assert_eq!(run(&[0.5, 0.25], 1, 3), [0.5, 0.5, 0.5, 0.25, 0.25, 0.25]);
        assert_eq!(run(&[0.1, 0.2, 0.3, 0.4], 2, 3), [0.1, 0.2, 0.0, 0.3, 0.4, 0.0]);
        assert_eq!(run(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 4, 3), [0.1, 0.2, 0.3, 0.5, 0.6, 0.7]);
    }

    #[test]
    fn zero_channels_produce_nothing() {
        assert!(run(&[1.0, 2.0], 0, 2).is_empty());
        assert!(run(&[1.0, 2.0], 2, 0).is_empty());
    }

    #[test]
    fn partial_trailing_frame_is_ignored() {
        assert_eq!(run(&[1.0, 1.0, 0.5], 2, 1), [1.0]);
        assert_eq!(run(&[1.0, 1.0, 0.5], 2, 2), [1.0, 1.0]);
    }
}
