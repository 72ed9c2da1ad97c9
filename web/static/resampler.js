// @ts-check
/**
 * Sample-rate conversion for the Player. The AudioContext is opened at the stream's rate,
 * so this runs only when the rate of the frames changes under it (a quality change on SSE,
 * say); linear interpolation is enough for that and costs nothing when the rates match.
 */

/** Streaming linear-interpolation resampler: state carries over from one block to the next. */
export class LinearResampler {
    constructor() {
        this.phase = 0;
        /** @type {number[]} last input sample per channel */
        this.last = [];
    }

    /**
     * @param {Float32Array[]} input planar
     * @param {number} inRate
     * @param {number} outRate
     * @returns {Float32Array[]}
     */
    process(input, inRate, outRate) {
        if (inRate === outRate) {
            this.phase = 0;
            this.last = input.map((x) => x[x.length - 1] ?? 0);
            return input;
        }
        const step = inRate / outRate;
        const n = input[0].length;
        // positions are relative to the previous block's last sample (index -1)
        let p = this.phase;
        const count = Math.max(0, Math.floor((n - 1 - p) / step) + 1);
        const out = input.map(() => new Float32Array(count));
        for (let c = 0; c < input.length; c++) {
            const x = input[c];
            const prev = this.last[c] ?? x[0];
            let q = p;
            for (let i = 0; i < count; i++) {
                const i0 = Math.floor(q);
                const f = q - i0;
                const a = i0 < 0 ? prev : x[i0];
                const b = x[Math.min(n - 1, i0 + 1)];
                out[c][i] = a + (b - a) * f;
                q += step;
            }
        }
        p += count * step;
        this.phase = p - n;
        this.last = input.map((x) => x[n - 1]);
        return out;
    }
}
