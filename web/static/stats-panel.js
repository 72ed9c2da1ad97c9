// @ts-check
/**
 * The "Stream stats" panel: the figures of `GET /api/streams/{id}/stats` as text, each with
 * a sparkline over the last 5 minutes (one point per refresh, every 2 s), so that a trend —
 * listeners leaving, bandwidth creeping up — is visible at a glance, not only the value now.
 * The sparklines are inline SVG: crisp at any size and no canvas to redraw.
 */

import { $ } from './dom.js';
import { fmt } from './format.js';

/** Points per sparkline: 5 minutes at one point every 2 s. */
export const SPARK_POINTS = 150;

const STAT_ITEMS = [
    { key: 'listeners', label: 'Listeners', get: (/** @type {any} */ s) => s.active_subscribers, show: fmt.int },
    { key: 'fps', label: 'Frames/s', get: (/** @type {any} */ s) => s.frames_per_second, show: (/** @type {number} */ v) => fmt.fixed(v, 1) },
    { key: 'dropped', label: 'Dropped frames', get: (/** @type {any} */ s) => s.dropped_frames, show: fmt.int },
    { key: 'mbps', label: 'Bandwidth', get: (/** @type {any} */ s) => s.bandwidth_usage_mbps, show: (/** @type {number} */ v) => `${fmt.fixed(v, 2)} Mbit/s` },
    { key: 'latency', label: 'Avg latency', get: (/** @type {any} */ s) => s.average_latency_ms, show: fmt.ms },
    // the delivery report (`/report`): audio payload ÷ bytes written, and what listeners measure
    { key: 'efficiency', label: 'Efficiency', get: (/** @type {any} */ s) => s.delivery?.global_efficiency_percent, show: (/** @type {number} */ v) => `${fmt.fixed(v, 1)} %` },
    { key: 'e2e', label: 'Listener latency p95', get: (/** @type {any} */ s) => s.delivery?.current_latency_ms?.p95, show: fmt.ms },
    // delivery mode: legacy, adaptive, or canary with the live verdict; a rollback names its reason
    { key: 'delivery', label: 'Delivery', text: deliveryText, noSpark: true },
    { key: 'improvement', label: 'Adaptive vs legacy', get: (/** @type {any} */ s) => s.delivery?.improvement_factor, show: (/** @type {number} */ v) => (Number.isFinite(v) ? `×${fmt.fixed(v, 2)}` : '–'), noSpark: true },
    { key: 'cpu', label: 'Server CPU', get: (/** @type {any} */ s) => s.cpu_usage, show: (/** @type {number} */ v) => `${fmt.fixed(v, 1)} %` },
    { key: 'mem', label: 'Server memory', get: (/** @type {any} */ s) => s.memory_usage?.used_bytes, show: fmt.bytes },
    { key: 'frames', label: 'Total frames', get: (/** @type {any} */ s) => s.total_frames, show: fmt.int, noSpark: true },
    { key: 'uptime', label: 'Uptime', get: (/** @type {any} */ s) => s.uptime_seconds, show: fmt.dur, noSpark: true },
];

/** The delivery mode in words, from the report's `delivery_mode`. @param {any} s */
export function deliveryText(s) {
    const d = s.delivery?.delivery_mode;
    if (!d) return '–';
    if (d.rollback) return `${d.mode} (adaptive rolled back)`;
    if (d.mode !== 'canary') return d.mode;
    const verdict = { adaptive_ok: 'adaptive ok', adaptive_worse: 'adaptive worse', not_compared: 'comparing' }[/** @type {string} */ (d.verdict?.state)] ?? '';
    return `canary ${Math.round(d.canary_fraction * 100)} % · ${verdict}`;
}

/** Points of a sparkline (line and filled area) for the values, newest at the right. */
export function sparkPoints(/** @type {number[]} */ v) {
    if (v.length === 0) return { line: '', area: '' };
    const max = Math.max(...v);
    const min = Math.min(0, ...v);
    const span = max - min || 1;
    const x0 = SPARK_POINTS - v.length;
    const pts = v.map((y, i) => `${x0 + i},${(27 - ((y - min) / span) * 25).toFixed(2)}`);
    return { line: pts.join(' '), area: `${x0},28 ${pts.join(' ')} ${SPARK_POINTS - 1},28` };
}

export class StatsPanel {
    constructor() {
        /** @type {Record<string, number[]>} history per figure, for the sparklines */
        this.sparks = {};
        /** refreshes shown (also in `#stats[data-updates]`, for tests) */
        this.updates = 0;
    }

    /** Builds the list of figures (once). */
    build() {
        $('stats-list').innerHTML = STAT_ITEMS.map(
            (it) =>
                `<div data-key="${it.key}"><dt>${it.label}</dt><dd>–</dd>` +
                (it.noSpark ? '' : `<svg viewBox="0 0 ${SPARK_POINTS} 28" preserveAspectRatio="none" aria-hidden="true"><line class="spark-base" x1="0" y1="27.5" x2="${SPARK_POINTS}" y2="27.5"/><polygon class="spark-area" points=""/><polyline points=""/></svg>`) +
                `</div>`,
        ).join('');
    }

    /** Forgets the history (another stream). */
    reset() {
        this.sparks = {};
    }

    /** The server could not be reached. */
    unreachable() {
        $('stats-updated').textContent = '(server unreachable)';
    }

    /** Shows a `/stats` answer. @param {any} s */
    show(s) {
        for (const it of STAT_ITEMS) {
            const row = /** @type {HTMLElement} */ ($('stats-list').querySelector(`[data-key="${it.key}"]`));
            if (!row) continue;
            if (it.text) {
                const dd = /** @type {HTMLElement} */ (row.querySelector('dd'));
                dd.textContent = it.text(s);
                // the rollback's reason, or the verdict's, on hover
                const d = s.delivery?.delivery_mode;
                dd.title = d?.rollback?.reason ?? d?.verdict?.reason ?? '';
                continue;
            }
            // a figure the server does not have yet (null) shows as '–'
            const v = Number(it.get?.(s) ?? NaN);
            /** @type {HTMLElement} */ (row.querySelector('dd')).textContent = it.show?.(v) ?? '–';
            if (it.noSpark) continue;
            const hist = (this.sparks[it.key] ??= []);
            hist.push(Number.isFinite(v) ? v : 0);
            if (hist.length > SPARK_POINTS) hist.splice(0, hist.length - SPARK_POINTS);
            const { line, area } = sparkPoints(hist);
            row.querySelector('polyline')?.setAttribute('points', line);
            row.querySelector('polygon')?.setAttribute('points', area);
        }
        this.updates++;
        $('stats').dataset.updates = String(this.updates);
        $('stats-updated').textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`;
    }
}
