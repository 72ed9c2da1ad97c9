// @ts-check
/**
 * The "Live signal" panel: waveform, level meters, spectrum and frame info of the stream
 * the dashboard shows.
 *
 * Frames from the SSE connection only go into two {@link SampleRing}s ({@link LiveView.push});
 * drawing happens in one requestAnimationFrame loop at display rate, never per event: the
 * waveform and meter bars when new samples came, the spectrum (an FFT) at most ~15 times a
 * second, text at most 4 times a second (readable, and cheap).
 */

import { $ } from './dom.js';
import { fmt } from './format.js';
import { fitCanvas } from './canvas.js';
import { SampleRing } from './sample-ring.js';
import { drawWaveform } from './waveform.js';
import { drawSpectrum } from './spectrum.js';
import { LevelMeters } from './level-meters.js';

/** Spectrum redraws at most this often, ms. */
const SPECTRUM_EVERY_MS = 66;
/** Text (numbers) changes at most this often, ms. */
const TEXT_EVERY_MS = 250;

/**
 * @typedef {object} LiveViewInputs
 * @property {() => import('./client.js').ClientStats|null} clientStats  the visual connection's statistics
 * @property {() => {sample_rate: number}|undefined} streamInfo  the stream as /api/streams describes it
 */

export class LiveView {
    /** @param {LiveViewInputs} inputs */
    constructor(inputs) {
        this.inputs = inputs;
        this.ringA = new SampleRing();
        this.ringB = new SampleRing();
        /** delivered sample rate of the visual stream; 0 before the first frame */
        this.rate = 0;
        /** @type {import('./client.js').AudioFrame|null} */
        this.lastFrame = null;
        /** something to draw since the last animation frame */
        this.dirty = true;
        this.meters = new LevelMeters();
        this.lastSpectrum = 0;
        this.lastText = 0;
        this.lastMeterText = 0;
    }

    /** Forgets the samples (another stream). */
    clear() {
        this.ringA.clear();
        this.ringB.clear();
        this.lastFrame = null;
        this.rate = 0;
        this.dirty = true;
    }

    /** A frame from the SSE connection. @param {import('./client.js').AudioFrame} f */
    push(f) {
        if (f.sample_rate !== this.rate) {
            // quality changed: the old samples are at another rate
            this.rate = f.sample_rate;
            this.ringA.clear();
            this.ringB.clear();
        }
        this.ringA.write(f.channel_a);
        this.ringB.write(f.channel_b);
        this.lastFrame = f;
        this.dirty = true;
    }

    /** Redraw at the next animation frame (e.g. the window changed). */
    invalidate() {
        this.dirty = true;
    }

    /** Starts the drawing loop. */
    start() {
        requestAnimationFrame((ts) => this.render(ts));
    }

    /** The one drawing loop, at display rate. @private */
    render(/** @type {number} */ ts) {
        requestAnimationFrame((t) => this.render(t));
        const wave = /** @type {HTMLCanvasElement} */ ($('wave'));
        const spectrum = /** @type {HTMLCanvasElement} */ ($('spectrum'));
        // both canvases are fitted (no short-circuit)
        const resizedWave = fitCanvas(wave);
        const resized = fitCanvas(spectrum) || resizedWave;
        const withText = ts - this.lastText > TEXT_EVERY_MS;
        const signal = { ringA: this.ringA, ringB: this.ringB, rate: this.rate };
        if (this.dirty || resized) {
            const windowMs = Number(/** @type {HTMLSelectElement} */ ($('wave-window')).value);
            drawWaveform(wave, { ...signal, windowMs });
            // numbers change at most 4 times a second (readable), bars at every new block
            const meterText = ts - this.lastMeterText > TEXT_EVERY_MS;
            this.meters.update(ts, meterText, signal);
            if (meterText) this.lastMeterText = ts;
        }
        if ((this.dirty && ts - this.lastSpectrum > SPECTRUM_EVERY_MS) || resized) {
            const peaks = drawSpectrum(spectrum, signal);
            if (peaks !== null) $('spec-peaks').textContent = peaks;
            this.lastSpectrum = ts;
        }
        if (withText) {
            this.showFrameInfo();
            this.lastText = ts;
        }
        this.dirty = false;
    }

    /** Frame number, rate, duration, latency, events/s, missing. @private */
    showFrameInfo() {
        const f = this.lastFrame;
        const s = this.inputs.clientStats();
        if (!f || !s) return;
        const info = this.inputs.streamInfo();
        $('fi-frame').textContent = `#${fmt.int(f.frame_number + f.frames - 1)}`;
        $('fi-rate').textContent =
            info && info.sample_rate !== f.sample_rate ? `${fmt.hz(info.sample_rate)} (shown ${fmt.hz(f.sample_rate)})` : fmt.hz(f.sample_rate);
        $('fi-duration').textContent = fmt.ms(f.duration_ms / f.frames);
        $('fi-latency').textContent = fmt.ms(s.avgLatencyMs ?? s.latencyMs);
        $('fi-eps').textContent = `${fmt.fixed(s.eventsPerSecond, 0)} (${fmt.fixed(s.fps, 0)} frames/s)`;
        $('fi-missing').textContent = fmt.int(s.missingFrames + s.invalidFrames);
    }
}
