//! The test programme the codec benches encode: 48 kHz stereo, 20 ms frames of tones gliding
//! under an envelope, noise bursts and a silence, cycled over 2 s so encoders see changing
//! content.

pub const RATE: u32 = 48_000;
pub const CHANNELS: u16 = 2;
pub const FRAME: usize = 960;
pub const FRAME_SECS: f64 = 0.020;

/// 2 s of interleaved stereo test programme, 100 frames.
pub fn programme() -> Vec<Vec<f32>> {
    let mut noise = 0x1234_5678u32;
    let mut pcm = Vec::with_capacity(2 * RATE as usize * 2);
    for i in 0..2 * RATE as usize {
        let t = i as f32 / RATE as f32;
        let env = (0.5 + 0.5 * (std::f32::consts::TAU * 2.0 * t).sin()).powi(2);
        let glide = 180.0 + 120.0 * (std::f32::consts::TAU * 0.5 * t).sin();
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let n = (noise as f32 / u32::MAX as f32 - 0.5)
            * if ((t * 4.0) as u32).is_multiple_of(3) { 0.3 } else { 0.0 };
        let silent = (1.2..1.5).contains(&t);
        let l = env
            * (0.3 * (std::f32::consts::TAU * glide * t).sin()
                + 0.1 * (std::f32::consts::TAU * 3.0 * glide * t).sin());
        let r = env * 0.25 * (std::f32::consts::TAU * 1.5 * glide * t).sin();
        let (l, r) = if silent { (0.0, 0.0) } else { (l + n, r + n * 0.5) };
        pcm.extend_from_slice(&[l, r]);
    }
    pcm.chunks(FRAME * usize::from(CHANNELS)).map(<[f32]>::to_vec).collect()
}
