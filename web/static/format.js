// @ts-check
/**
 * How the dashboard writes numbers: units chosen by magnitude, en-US digit grouping, a
 * real minus sign for decibels, and '–' for anything missing or not finite, so that a
 * field the server does not send shows as absent rather than as "NaN" or "0".
 */

export const fmt = {
    int: (/** @type {number} */ n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'),
    fixed: (/** @type {number} */ n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–'),
    ms: (/** @type {number|null|undefined} */ n) => (typeof n === 'number' && Number.isFinite(n) ? `${n < 10 ? n.toFixed(1) : Math.round(n)} ms` : '–'),
    us: (/** @type {number|null|undefined} */ n) =>
        typeof n !== 'number' || !Number.isFinite(n) ? '–' : n < 1000 ? `${Math.round(n)} µs` : n < 1e6 ? `${(n / 1000).toFixed(n < 1e4 ? 2 : 1)} ms` : `${(n / 1e6).toFixed(2)} s`,
    hz: (/** @type {number} */ n) => (n >= 1000 ? `${(n / 1000).toFixed(n % 1000 ? 1 : 0)} kHz` : `${Math.round(n)} Hz`),
    db: (/** @type {number} */ n) => (n <= -120 ? '−∞' : `${n < 0 ? '−' : ''}${Math.abs(n).toFixed(1)}`),
    bytes: (/** @type {number} */ n) =>
        !Number.isFinite(n) ? '–' : n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : n < 1073741824 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1073741824).toFixed(2)} GiB`,
    dur: (/** @type {number} */ s) => {
        if (!Number.isFinite(s)) return '–';
        s = Math.floor(s);
        const h = Math.floor(s / 3600);
        const m = Math.floor((s % 3600) / 60);
        return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
    },
};
