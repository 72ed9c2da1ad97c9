//! Signal helpers shared by the tests that decode what the server sends: sample
//! conversions and the correlation of decoded audio with its source.

/// The rate the correlation helpers work at (decoders are asked for 48 kHz).
pub const RATE: usize = 48_000;

pub fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub fn i16s(b: &[u8]) -> Vec<i16> {
    b.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()
}

/// Normalised cross-correlation at lag `lag` of `snippet` within `reference`.
pub fn ncc(snippet: &[f32], reference: &[f32], lag: usize) -> f64 {
    let r = &reference[lag..lag + snippet.len()];
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for (a, b) in snippet.iter().zip(r) {
        xy += f64::from(*a) * f64::from(*b);
        xx += f64::from(*a) * f64::from(*a);
        yy += f64::from(*b) * f64::from(*b);
    }
    if xx == 0.0 || yy == 0.0 { 0.0 } else { xy / (xx * yy).sqrt() }
}

pub fn decimate4(x: &[f32]) -> Vec<f32> {
    x.chunks_exact(4).map(|c| c.iter().sum::<f32>() / 4.0).collect()
}

/// Best correlation of `decoded` (its middle 0.5 s) against the source, searching every lag:
/// coarse on 12 kHz versions, then exact around the best coarse lag.
pub fn best_correlation(decoded: &[f32], reference: &[f32]) -> (f64, f64) {
    assert!(decoded.len() > RATE, "too little audio decoded: {} samples", decoded.len());
    let mid = decoded.len() / 2;
    let snippet = &decoded[mid - RATE / 4..mid + RATE / 4];
    let (ds, dr) = (decimate4(snippet), decimate4(reference));
    let coarse =
        (0..dr.len() - ds.len()).max_by(|&a, &b| ncc(&ds, &dr, a).total_cmp(&ncc(&ds, &dr, b))).unwrap();
    let lo = (coarse * 4).saturating_sub(16);
    let hi = (coarse * 4 + 16).min(reference.len() - snippet.len());
    let best =
        (lo..=hi).max_by(|&a, &b| ncc(snippet, reference, a).total_cmp(&ncc(snippet, reference, b))).unwrap();
    (ncc(snippet, reference, best), best as f64 / RATE as f64)
}
