// @ts-check
/**
 * Stand-ins for frames that never arrived (an empty Opus packet: one the server does not
 * have), made where the frame is missing so that the timeline keeps its length and the
 * jitter buffer downstream does not underrun. Pure functions over planar samples.
 *
 * Why backwards then forwards: the last frame played in reverse starts exactly where it
 * ended, and played forwards again it starts where the reversed copy ended, so every join
 * is continuous (no click) without any analysis of the signal. The fade to silence over two
 * frames keeps a longer loss from turning into a buzz, and the fade-in of the next real
 * frame ({@link fadeIn}) hides the step back to real audio.
 */

/**
 * The `k`-th consecutive missing frame (1 for the first): the last real frame backwards
 * (odd `k`) or forwards (even `k`), fading linearly from 1 − (k−1)/2 to 1 − k/2, i.e. to
 * silence over two frames; silence when there is no last frame.
 * @param {Float32Array[]|null} last  the last real frame played, planar
 * @param {number} k                  position in the run of missing frames, from 1
 * @param {number} n                  samples per channel of the frame to make
 * @param {number} channels
 * @returns {Float32Array[]}
 */
export function concealFrame(last, k, n, channels) {
    const out = [];
    const g0 = Math.max(0, 1 - (k - 1) / 2);
    const g1 = Math.max(0, 1 - k / 2);
    for (let c = 0; c < channels; c++) {
        const o = new Float32Array(n);
        const s = last ? last[Math.min(c, last.length - 1)] : null;
        if (s && s.length && g0 > 0) {
            const len = s.length;
            for (let i = 0; i < n; i++) {
                const j = i % len;
                o[i] = s[k % 2 === 1 ? len - 1 - j : j] * (g0 + ((g1 - g0) * i) / n);
            }
        }
        out.push(o);
    }
    return out;
}

/**
 * Fades the first `count` samples of every channel in linearly (in place): the first real
 * frame after concealed ones.
 * @param {Float32Array[]} samples
 * @param {number} count
 */
export function fadeIn(samples, count) {
    const fade = Math.min(samples[0]?.length ?? 0, count);
    for (const ch of samples) for (let i = 0; i < fade; i++) ch[i] *= i / fade;
}
