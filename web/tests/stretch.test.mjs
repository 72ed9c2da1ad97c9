// Unit tests of the pitch-keeping time compression (web/static/stretch.js), the mirror of
// ondes_core::stretch: a voiced sound shortened frame by frame still matches the original
// after alignment, and the splices leave no step in the waveform.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compress } from '../static/stretch.js';

const RATE = 48000;
const FRAME = 960;

/** A voiced sound: harmonics on a pitch gliding 110 → 180 Hz, a syllable every 200 ms. */
function vowel(secs) {
    const n = Math.floor(secs * RATE);
    const x = new Float32Array(n);
    let phase = 0;
    for (let i = 0; i < n; i++) {
        const t = i / RATE;
        phase += (2 * Math.PI * (110 + 70 * (t / secs))) / RATE;
        let v = 0;
        for (let h = 1; h <= 12; h++) v += Math.sin(h * phase) / h;
        x[i] = 0.3 * v * (0.6 + 0.4 * Math.sin(2 * Math.PI * 5 * t));
    }
    return x;
}

const maxStep = (x) => x.reduce((m, v, i) => (i ? Math.max(m, Math.abs(v - x[i - 1])) : m), 0);

function corr(a, b) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = 0; i < a.length; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    return ab / Math.max(1e-12, Math.sqrt(aa * bb));
}

function compressAll(x, share) {
    const parts = [];
    let removed = 0;
    for (let i = 0; i + FRAME <= x.length; i += FRAME) {
        const c = compress([x.subarray(i, i + FRAME)], RATE, FRAME * share);
        removed += c.removed;
        parts.push(c.samples[0]);
    }
    const y = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
        y.set(p, o);
        o += p.length;
    }
    return { y, removed };
}

test('a compressed voice matches the original after alignment, without a click', () => {
    const x = vowel(1);
    const { y, removed } = compressAll(x, 0.5);
    assert.equal(y.length + removed, x.length);
    assert.ok(removed > 0.2 * x.length, `drained ${removed} of ${x.length}`);
    const win = 480;
    const scores = [];
    for (let pos = 0; pos + win <= y.length; pos += win) {
        const w = y.subarray(pos, pos + win);
        const expected = Math.floor((pos * x.length) / y.length);
        let best = -Infinity;
        for (let o = Math.max(0, expected - 2400); o <= Math.min(x.length - win, expected + 2400); o += 2) {
            best = Math.max(best, corr(w, x.subarray(o, o + win)));
        }
        scores.push(best);
    }
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    assert.ok(mean >= 0.9, `mean aligned correlation ${mean.toFixed(3)}`);
    assert.ok(maxStep(y) <= maxStep(x) * 1.05, `step ${maxStep(y)} above the signal's own ${maxStep(x)}`);
});

test('silence is cut at the longest lag; a frame too short for a splice is kept; channels cut together', () => {
    const silent = compress([new Float32Array(FRAME)], RATE, 480);
    assert.equal(silent.removed, 480);
    assert.equal(silent.samples[0].length, 480);
    const short = compress([new Float32Array(192).fill(0.1)], RATE, 96);
    assert.equal(short.removed, 0);
    const v = vowel(0.02);
    const stereo = compress([v, v.map((s) => -s)], RATE, 480);
    assert.ok(stereo.removed >= 120);
    for (let i = 0; i < stereo.samples[0].length; i++) assert.ok(Math.abs(stereo.samples[0][i] + stereo.samples[1][i]) < 1e-6);
});
