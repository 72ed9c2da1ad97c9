// @ts-check
/**
 * Small DSP helpers for the dashboard: levels in dBFS and a magnitude spectrum.
 * Pure functions, importable by Node for tests.
 */

/** Level in dBFS of a linear amplitude (full scale = 1), floored at `floor`. */
export function toDb(/** @type {number} */ x, floor = -120) {
    return x > 0 ? Math.max(floor, 20 * Math.log10(x)) : floor;
}

/** RMS and peak (absolute) of the last `n` samples of `x`. */
export function levels(/** @type {ArrayLike<number>} */ x, n = x.length) {
    const start = Math.max(0, x.length - n);
    let s = 0;
    let peak = 0;
    for (let i = start; i < x.length; i++) {
        const v = x[i];
        s += v * v;
        const a = v < 0 ? -v : v;
        if (a > peak) peak = a;
    }
    const len = x.length - start;
    return { rms: len ? Math.sqrt(s / len) : 0, peak };
}

/** Hann window of length n (cached). */
const windows = new Map();
export function hann(/** @type {number} */ n) {
    let w = windows.get(n);
    if (!w) {
        w = new Float32Array(n);
        for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
        windows.set(n, w);
    }
    return w;
}

/**
 * In-place iterative radix-2 FFT of (re, im), length a power of two.
 * @param {Float64Array|Float32Array} re
 * @param {Float64Array|Float32Array} im
 */
export function fft(re, im) {
    const n = re.length;
    if (n & (n - 1)) throw new Error('fft length must be a power of two');
    for (let i = 1, j = 0; i < n; i++) {
        let bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            [re[i], re[j]] = [re[j], re[i]];
            [im[i], im[j]] = [im[j], im[i]];
        }
    }
    for (let len = 2; len <= n; len <<= 1) {
        const ang = (-2 * Math.PI) / len;
        const wr = Math.cos(ang);
        const wi = Math.sin(ang);
        for (let i = 0; i < n; i += len) {
            let cr = 1;
            let ci = 0;
            for (let k = 0; k < len / 2; k++) {
                const a = i + k;
                const b = a + len / 2;
                const tr = re[b] * cr - im[b] * ci;
                const ti = re[b] * ci + im[b] * cr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                const ncr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = ncr;
            }
        }
    }
}

/**
 * Magnitude spectrum in dBFS (a full-scale sine reads about 0 dB) of the last `n` samples
 * of `x` (Hann window; zero-padded if fewer). Returns n/2 bins of sampleRate/n Hz.
 * @param {ArrayLike<number>} x
 * @param {number} n power of two
 */
export function spectrumDb(x, n) {
    const re = new Float64Array(n);
    const im = new Float64Array(n);
    const w = hann(n);
    const start = Math.max(0, x.length - n);
    const len = x.length - start;
    for (let i = 0; i < len; i++) re[i] = x[start + i] * w[i];
    fft(re, im);
    const out = new Float32Array(n / 2);
    const scale = 4 / n; // Hann coherent gain 0.5, one-sided ×2
    for (let k = 0; k < n / 2; k++) out[k] = toDb(Math.hypot(re[k], im[k]) * scale, -140);
    return out;
}
