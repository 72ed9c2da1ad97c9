// @ts-check
/**
 * Time compression that keeps the pitch, for draining excess delay in the jitter buffer.
 *
 * The mirror of `ondes_core::stretch` (WSOLA with one splice per frame, after NetEQ's
 * "accelerate"): find the lag L at which the frame best resembles itself (a pitch period,
 * or a multiple of it), and overlap-add [0, L) fading out with [L, 2L) fading in. The frame
 * comes out L samples shorter, continuous at both ends, and — where the signal is periodic
 * — indistinguishable from it. Pure function: no state, no clock.
 */

/** Shortest lag searched, seconds: a period of 400 Hz (above most voices' pitch). */
const MIN_LAG_S = 0.0025;

/**
 * Shortens `frame` (planar: one Float32Array per channel, all the same length) by one
 * splice of at most `maxRemove` samples and at least 2.5 ms worth, at the lag where the
 * frame best resembles itself. A frame too short for the smallest splice comes back as is.
 * @param {Float32Array[]} frame
 * @param {number} sampleRate
 * @param {number} maxRemove  samples per channel
 * @returns {{samples: Float32Array[], removed: number, corr: number}}
 */
export function compress(frame, sampleRate, maxRemove) {
    const n = frame[0]?.length ?? 0;
    const minLag = Math.max(1, Math.floor(sampleRate * MIN_LAG_S));
    const maxLag = Math.min(Math.floor(maxRemove), Math.floor(n / 2));
    if (maxLag < minLag) return { samples: frame, removed: 0, corr: 0 };
    const { lag, corr } = bestLag(frame, minLag, maxLag);
    const samples = frame.map((x) => {
        const y = new Float32Array(n - lag);
        for (let i = 0; i < lag; i++) {
            const w = (i + 0.5) / lag;
            y[i] = x[i] * (1 - w) + x[i + lag] * w;
        }
        y.set(x.subarray(2 * lag), lag);
        return y;
    });
    return { samples, removed: lag, corr };
}

/**
 * The lag in [minLag, maxLag] with the highest normalised correlation between x[0, L) and
 * x[L, 2L) over all channels, preferring the longest lag within 0.02 of the best.
 * @param {Float32Array[]} x
 * @param {number} minLag
 * @param {number} maxLag
 */
function bestLag(x, minLag, maxLag) {
    const QUIET = 1e-12;
    const scores = [];
    for (let lag = minLag; lag <= maxLag; lag++) {
        let ab = 0;
        let aa = 0;
        let bb = 0;
        for (const ch of x) {
            for (let i = 0; i < lag; i++) {
                const p = ch[i];
                const q = ch[i + lag];
                ab += p * q;
                aa += p * p;
                bb += q * q;
            }
        }
        const quietA = aa < QUIET;
        const quietB = bb < QUIET;
        scores.push(quietA && quietB ? 1 : quietA || quietB ? 0 : ab / Math.sqrt(aa * bb));
    }
    const top = Math.max(...scores);
    let i = scores.length - 1;
    while (i > 0 && scores[i] < top - 0.02) i--;
    return { lag: minLag + i, corr: scores[i] };
}
