// @ts-check
/**
 * The "Acquisition" panel: what a lab dashboard watches on an input, from the server's own
 * measurement of the stream's samples (`levels` in `GET /api/streams/{id}/stats`, one-second
 * windows), not from the decimated samples this page draws. Per channel: DC offset, RMS and
 * peak (dBFS) with their history over the last 5 minutes (one point per refresh), and the
 * clipping counter. For a `capture:` stream also the device: its state, the drift of its
 * clock against the server's (ppm), overruns and the frames lost at the source, and the
 * capture callback → hub latency.
 */

import { $, esc } from './dom.js';
import { fmt } from './format.js';
import { SPARK_POINTS, sparkPoints } from './stats-panel.js';

const CHANNEL_NAMES = ['A (left)', 'B (right)'];

/** dBFS of a linear level (−120 for silence). */
export const dbfs = (/** @type {number} */ x) => (x > 1e-6 ? 20 * Math.log10(x) : -120);

/** Sparkline of dBFS values on a fixed −60…0 dBFS scale, so RMS and peak share an axis. */
function dbLine(/** @type {number[]} */ v) {
    const x0 = SPARK_POINTS - v.length;
    return v.map((d, i) => `${x0 + i},${(27 - ((Math.max(-60, Math.min(0, d)) + 60) / 60) * 25).toFixed(2)}`).join(' ');
}

export class AcquisitionPanel {
    constructor() {
        /** @type {{rms: number[], peak: number[], dc: number[]}[]} history per channel */
        this.history = [];
        this.updates = 0;
    }

    /** Forgets the history (another stream). */
    reset() {
        this.history = [];
        $('acq-channels').innerHTML = '';
        $('acq-device').innerHTML = '';
    }

    /** Shows a `/stats` answer. @param {any} s */
    show(s) {
        const chans = Array.isArray(s?.levels?.channels) ? s.levels.channels : [];
        const rows = chans.map((/** @type {any} */ c, /** @type {number} */ i) => {
            const h = (this.history[i] ??= { rms: [], peak: [], dc: [] });
            h.rms.push(dbfs(c.rms));
            h.peak.push(dbfs(c.peak));
            h.dc.push(c.dc);
            for (const k of /** @type {const} */ (['rms', 'peak', 'dc'])) if (h[k].length > SPARK_POINTS) h[k].splice(0, h[k].length - SPARK_POINTS);
            const dc = sparkPoints(h.dc.map((x) => Math.abs(x)));
            const clipped = Number(c.clipped_samples) || 0;
            return (
                `<tr data-ch="${i}"><th scope="row">${esc(CHANNEL_NAMES[i] ?? `channel ${i + 1}`)}</th>` +
                `<td data-field="dc">${fmt.fixed(c.dc * 1000, 2)} ‰</td>` +
                `<td data-field="rms">${fmt.db(dbfs(c.rms))} dBFS</td>` +
                `<td data-field="peak">${fmt.db(dbfs(c.peak))} dBFS</td>` +
                `<td data-field="clipped" class="${clipped > 0 ? 'bad' : ''}">${fmt.int(clipped)}</td>` +
                `<td class="spark-cell"><svg viewBox="0 0 ${SPARK_POINTS} 28" preserveAspectRatio="none" role="img" aria-label="RMS (solid) and peak (dashed) over the last minutes, −60 to 0 dBFS">` +
                `<line class="spark-base" x1="0" y1="27.5" x2="${SPARK_POINTS}" y2="27.5"/>` +
                `<polyline class="acq-rms" points="${dbLine(h.rms)}"/><polyline class="acq-peak" points="${dbLine(h.peak)}"/></svg></td>` +
                `<td class="spark-cell"><svg viewBox="0 0 ${SPARK_POINTS} 28" preserveAspectRatio="none" role="img" aria-label="DC offset magnitude over the last minutes">` +
                `<line class="spark-base" x1="0" y1="27.5" x2="${SPARK_POINTS}" y2="27.5"/><polygon class="spark-area" points="${dc.area}"/><polyline points="${dc.line}"/></svg></td></tr>`
            );
        });
        $('acq-channels').innerHTML = rows.length
            ? `<thead><tr><th scope="col">Channel</th><th scope="col">DC offset</th><th scope="col">RMS</th><th scope="col">Peak</th><th scope="col">Clipped samples</th><th scope="col">RMS / peak</th><th scope="col">|DC|</th></tr></thead><tbody>${rows.join('')}</tbody>`
            : '<tbody><tr><td class="muted">No levels yet.</td></tr></tbody>';
        $('acq-device').innerHTML = renderDevice(s?.capture);
        this.updates++;
        $('acquisition').dataset.updates = String(this.updates);
    }
}

/** The capture device's clock and faults, or why there is none. */
export function renderDevice(/** @type {any} */ c) {
    if (!c) return '<div><dt>Device</dt><dd class="muted" data-field="device">not a capture stream (no device clock)</dd></div>';
    const drift = typeof c.drift_ppm === 'number' ? `${c.drift_ppm >= 0 ? '+' : '−'}${Math.abs(c.drift_ppm).toFixed(1)} ppm` : '–';
    const item = (/** @type {string} */ key, /** @type {string} */ label, /** @type {string} */ value, cls = '') =>
        `<div><dt>${label}</dt><dd data-field="${key}"${cls ? ` class="${cls}"` : ''}>${value}</dd></div>`;
    return [
        item('device', 'Device', `${esc(c.device)} · ${esc(c.state)}`, c.state === 'running' ? '' : 'bad'),
        item('format', 'Format', `${fmt.int(c.device_channels)} ch · ${fmt.hz(c.device_rate)} · ${esc(c.sample_format)} · ${fmt.int(c.period_frames)}-sample periods`),
        item('drift', 'Clock drift', drift),
        item('xruns', 'Overruns', `${fmt.int(c.xruns)} reported · ${fmt.int(c.gaps)} gaps`, c.gaps > 0 ? 'bad' : ''),
        item('dropped', 'Lost at source', `${fmt.int(c.dropped_frames)} frames`, c.dropped_frames > 0 ? 'bad' : ''),
        item('lost', 'Device lost', `${fmt.int(c.lost_events)}× (${fmt.int(c.lost_frames)} frames of silence)`, c.lost_events > 0 ? 'bad' : ''),
        item('latency', 'Callback → hub p99', fmt.us(c.callback_to_hub_us?.p99)),
    ].join('');
}
