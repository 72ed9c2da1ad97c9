// @ts-check
/**
 * The dashboard's sample store: incoming SSE frames only write here, and the drawing loop
 * reads the newest samples at display rate. Fixed capacity, no allocation per write, so a
 * burst of events costs a copy and nothing else.
 */

/** The last `capacity` samples of one channel. */
export class SampleRing {
    constructor(capacity = 1 << 16) {
        this.buf = new Float32Array(capacity);
        this.pos = 0; // total written
    }
    clear() {
        this.pos = 0;
    }
    write(/** @type {ArrayLike<number>} */ x) {
        const cap = this.buf.length;
        for (let i = 0; i < x.length; i++) this.buf[(this.pos + i) % cap] = x[i];
        this.pos += x.length;
    }
    get length() {
        return Math.min(this.pos, this.buf.length);
    }
    /** The newest `n` samples (fewer if not available), oldest first. */
    latest(/** @type {number} */ n) {
        n = Math.min(n, this.length);
        const out = new Float32Array(n);
        const cap = this.buf.length;
        const start = this.pos - n;
        for (let i = 0; i < n; i++) out[i] = this.buf[(start + i) % cap];
        return out;
    }
}
