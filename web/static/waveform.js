// @ts-check
/**
 * The waveform canvas: both channels, each in its own lane (A on top, B below: told apart
 * without colour), over a chosen window, triggered on the latest rising zero crossing of A
 * that still leaves a full window, so that a periodic signal stands still instead of
 * scrolling.
 */

import { COLORS } from './canvas.js';

/** @typedef {import('./sample-ring.js').SampleRing} SampleRing */

/**
 * Draws both channels' newest `windowMs` of samples, A in the upper lane and B in the lower.
 * @param {HTMLCanvasElement} c
 * @param {{ringA: SampleRing, ringB: SampleRing, rate: number, windowMs: number}} signal
 *        `rate` 0 while no audio has arrived
 */
export function drawWaveform(c, { ringA, ringB, rate, windowMs }) {
    const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
    const { width: W, height: H } = c;
    const dpr = window.devicePixelRatio || 1;
    g.fillStyle = COLORS.bg;
    g.fillRect(0, 0, W, H);
    const lane = H / 2;
    // grid: centre lines and ±0.5
    g.strokeStyle = COLORS.grid;
    g.lineWidth = 1;
    g.beginPath();
    for (let l = 0; l < 2; l++) {
        for (const y of [0.25, 0.5, 0.75]) {
            const yy = Math.round(l * lane + y * lane) + 0.5;
            g.moveTo(0, yy);
            g.lineTo(W, yy);
        }
    }
    g.stroke();
    g.strokeStyle = COLORS.axis;
    g.beginPath();
    g.moveTo(0, Math.round(lane) + 0.5);
    g.lineTo(W, Math.round(lane) + 0.5);
    g.stroke();
    g.font = `${12 * dpr}px system-ui, sans-serif`;
    g.fillStyle = COLORS.text;
    g.fillText(`A (left)`, 6 * dpr, 14 * dpr);
    g.fillText(`B (right)`, 6 * dpr, lane + 14 * dpr);
    const scaleLabel = `${windowMs} ms`;
    g.fillText(scaleLabel, W - g.measureText(scaleLabel).width - 6 * dpr, H - 6 * dpr);
    if (!rate || ringA.length === 0) {
        g.fillText('waiting for audio…', W / 2 - 50 * dpr, lane / 2);
        return;
    }
    const n = Math.max(2, Math.round((rate * windowMs) / 1000));
    const search = Math.min(Math.round(rate * 0.025), n);
    const a = ringA.latest(n + search);
    const b = ringB.latest(n + search);
    // trigger: the latest rising zero crossing of A that still leaves a full window
    let start = Math.max(0, a.length - n);
    for (let i = start; i > 0 && i > start - search; i--) {
        if (a[i - 1] < 0 && a[i] >= 0) {
            start = i;
            break;
        }
    }
    const count = Math.min(n, a.length - start);
    drawTrace(g, a, start, count, n, 0, lane, COLORS.a, W, dpr);
    drawTrace(g, b, start, count, n, lane, lane, COLORS.b, W, dpr);
}

/** One channel's trace in its lane: a min/max envelope per pixel column when samples outnumber pixels. */
function drawTrace(
    /** @type {CanvasRenderingContext2D} */ g,
    /** @type {Float32Array} */ x,
    /** @type {number} */ start,
    /** @type {number} */ count,
    /** @type {number} */ n,
    /** @type {number} */ top,
    /** @type {number} */ h,
    /** @type {string} */ color,
    /** @type {number} */ W,
    /** @type {number} */ dpr,
) {
    const mid = top + h / 2;
    const amp = (h / 2) * 0.92;
    g.strokeStyle = color;
    g.lineWidth = 2 * dpr;
    g.lineJoin = 'round';
    g.beginPath();
    if (n > W) {
        // more samples than pixels: min/max envelope per column
        for (let px = 0; px < W; px++) {
            const i0 = start + Math.floor((px * n) / W);
            const i1 = Math.min(start + count, start + Math.floor(((px + 1) * n) / W));
            if (i0 >= start + count) break;
            let lo = 1;
            let hi = -1;
            // from the previous column's last sample, so that columns join up
            for (let i = Math.max(start, i0 - 1); i < Math.max(i1, i0 + 1); i++) {
                if (x[i] < lo) lo = x[i];
                if (x[i] > hi) hi = x[i];
            }
            g.moveTo(px + 0.5, mid - hi * amp - 0.5);
            g.lineTo(px + 0.5, mid - lo * amp + 0.5);
        }
    } else {
        for (let i = 0; i < count; i++) {
            const px = (i / (n - 1)) * W;
            const py = mid - x[start + i] * amp;
            if (i === 0) g.moveTo(px, py);
            else g.lineTo(px, py);
        }
    }
    g.stroke();
}
