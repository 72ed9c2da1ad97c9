// @ts-check
/**
 * The spectrum canvas: dBFS over a log frequency axis for both channels (FFT of the newest
 * 2048 samples, 1024 below 16 kHz; `dsp.js`), one value per pixel column (the loudest bin in it),
 * with the strongest frequency of each channel named as text.
 */

import { COLORS } from './canvas.js';
import { fmt } from './format.js';
import { spectrumDb } from './dsp.js';

/** @typedef {import('./sample-ring.js').SampleRing} SampleRing */

/** The axes: a log frequency axis from 20 Hz to Nyquist, dBFS from −100 to 0. */
const SPEC = { minHz: 20, minDb: -100, maxDb: 0 };

/**
 * Draws the spectrum of both channels' newest samples (A solid with a light fill, B dashed);
 * returns the strongest frequency of each as text, or null while there is too little audio.
 * @param {HTMLCanvasElement} c
 * @param {{ringA: SampleRing, ringB: SampleRing, rate: number}} signal  `rate` 0 while no audio has arrived
 * @returns {string|null}
 */
export function drawSpectrum(c, { ringA, ringB, rate: signalRate }) {
    const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
    const { width: W, height: H } = c;
    const dpr = window.devicePixelRatio || 1;
    g.fillStyle = COLORS.bg;
    g.fillRect(0, 0, W, H);
    const rate = signalRate || 48000;
    const maxHz = rate / 2;
    const padB = 16 * dpr;
    const plotH = H - padB;
    const xOf = (/** @type {number} */ f) => (Math.log(f / SPEC.minHz) / Math.log(maxHz / SPEC.minHz)) * W;
    const yOf = (/** @type {number} */ db) => ((SPEC.maxDb - Math.max(SPEC.minDb, Math.min(SPEC.maxDb, db))) / (SPEC.maxDb - SPEC.minDb)) * plotH;
    g.font = `${11 * dpr}px system-ui, sans-serif`;
    g.lineWidth = 1;
    g.strokeStyle = COLORS.grid;
    g.fillStyle = COLORS.text;
    g.beginPath();
    for (const db of [-20, -40, -60, -80]) {
        const y = Math.round(yOf(db)) + 0.5;
        g.moveTo(0, y);
        g.lineTo(W, y);
    }
    for (const f of [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]) {
        if (f >= maxHz) break;
        const x = Math.round(xOf(f)) + 0.5;
        g.moveTo(x, 0);
        g.lineTo(x, plotH);
    }
    g.stroke();
    for (const f of [100, 1000, 10000]) {
        if (f >= maxHz) continue;
        const label = fmt.hz(f);
        const w = g.measureText(label).width;
        const x = xOf(f) + 3 * dpr + w > W ? xOf(f) - 3 * dpr - w : xOf(f) + 3 * dpr;
        g.fillText(label, x, H - 4 * dpr);
    }
    for (const db of [-20, -40, -60, -80]) g.fillText(`${db} dB`, 4 * dpr, yOf(db) - 3 * dpr);
    if (!signalRate || ringA.length < 256) return null;
    const N = rate >= 16000 ? 2048 : 1024;
    const peaks = [];
    for (const [ch, ring, color, dashed] of /** @type {const} */ ([
        ['A', ringA, COLORS.a, false],
        ['B', ringB, COLORS.b, true],
    ])) {
        const spec = spectrumDb(ring.latest(N), N);
        const binHz = rate / N;
        // one value per pixel column: the max of the bins that fall in it
        const cols = new Float32Array(W).fill(-200);
        let best = 1;
        for (let k = 1; k < spec.length; k++) {
            const f = k * binHz;
            if (f < SPEC.minHz) continue;
            const px = Math.min(W - 1, Math.floor(xOf(f)));
            if (spec[k] > cols[px]) cols[px] = spec[k];
            if (spec[k] > spec[best]) best = k;
        }
        peaks.push(`${ch} ${fmt.hz(best * binHz)} (${fmt.db(spec[best])} dB)`);
        g.strokeStyle = color;
        g.lineWidth = (dashed ? 1.5 : 1.75) * dpr;
        g.setLineDash(dashed ? [5 * dpr, 4 * dpr] : []);
        g.beginPath();
        let started = false;
        let lastY = plotH;
        for (let px = 0; px < W; px++) {
            let v = cols[px];
            if (v < -199) {
                if (!started) continue;
                v = NaN; // bridge empty columns (low frequencies have fewer bins than pixels)
            }
            const y = Number.isNaN(v) ? lastY : yOf(v);
            if (Number.isNaN(v)) continue;
            if (!started) {
                g.moveTo(px, y);
                started = true;
            } else g.lineTo(px, y);
            lastY = y;
        }
        g.stroke();
        if (!dashed) {
            // a light fill under A (B stays a dashed line: told apart without colour)
            g.lineTo(W, plotH);
            g.lineTo(0, plotH);
            g.closePath();
            g.fillStyle = 'rgba(57, 197, 207, 0.12)';
            g.fill();
        }
    }
    g.setLineDash([]);
    return peaks.join(', ');
}
