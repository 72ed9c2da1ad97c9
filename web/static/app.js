// @ts-check
/**
 * The ondes dashboard (served at `/`). Plain ES module, no build step.
 *
 * Visual path — a deliberate choice: the waveform, meters and spectrum use SSE with
 * `format=lightweight&max_fps=25`. Lightweight halves the samples with the server's
 * anti-aliased 2:1 decimation (48 kHz → 24 kHz: the spectrum still reaches 12 kHz), and
 * the serialisation is made once per frame on the server and shared by every dashboard;
 * `max_fps=25` merges frames in pairs (no audio lost) so the page parses 25 events/s
 * instead of 50. Incoming samples only go into a ring buffer; drawing happens in one
 * requestAnimationFrame loop at display rate, never per event, and the FFT runs at most
 * ~15 times a second. Listening uses its own connection (`Player`: WebSocket Opus decoded
 * by WebCodecs, 16-bit PCM when the browser cannot decode Opus, SSE if the WebSocket fails).
 */

import { AudioStreamClient } from './client.js';
import { Player } from './player.js';
import { levels, toDb, spectrumDb } from './dsp.js';

const STATS_EVERY_MS = 2000;
const SPARK_POINTS = 150; // 5 minutes at one point every 2 s
const TOKEN_KEY = 'ondes.token';
const COLORS = { a: '#39c5cf', b: '#f0b429', grid: '#1f2a36', axis: '#3a4654', text: '#9aa6b2', bg: '#0a0e14' };

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

// ---------------------------------------------------------------------------------------
// formatting

const fmt = {
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

const esc = (/** @type {unknown} */ s) =>
    String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

// ---------------------------------------------------------------------------------------
// samples for drawing

/** The last `capacity` samples of one channel. */
class SampleRing {
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

// ---------------------------------------------------------------------------------------
// application state

const app = {
    /** @type {any[]} */
    streams: [],
    /** @type {string|null} */
    streamId: null,
    /** @type {AudioStreamClient|null} */
    client: null,
    /** @type {Player|null} */
    player: null,
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    ringA: new SampleRing(),
    ringB: new SampleRing(),
    rate: 0, // delivered sample rate of the visual stream
    /** @type {any} */
    lastFrame: null,
    dirty: false,
    statsUpdates: 0,
    /** @type {Record<string, number[]>} */
    sparks: {},
    debugDenied: false,
    /** @type {Record<'a'|'b', {db: number, at: number, fell?: number}>} */
    peakHold: { a: { db: -120, at: 0 }, b: { db: -120, at: 0 } },
    perfAvailable: /** @type {boolean|null} */ (null),
    lastPerfCheck: 0,
};

// ---------------------------------------------------------------------------------------
// connection state

const STATE_LABELS = {
    idle: ['…', 'Connecting'],
    connecting: ['…', 'Connecting'],
    live: ['●', 'Live'],
    paused: ['‖', 'Paused'],
    'source-lost': ['⚠', 'Source lost'],
    reconnecting: ['↻', 'Reconnecting'],
    ended: ['■', 'Ended'],
    failed: ['✕', 'Disconnected'],
    closed: ['■', 'Closed'],
};

function showState() {
    const c = app.client;
    const s = c?.state ?? 'connecting';
    const [icon, label] = STATE_LABELS[s] ?? ['?', s];
    let text = label;
    if (s === 'reconnecting' && c) text = `Reconnecting (attempt ${c.attempt} of ${c.maxReconnectAttempts})`;
    if (s === 'source-lost') text = 'Source lost — no audio';
    if (s === 'failed') text = 'Disconnected — reload to retry';
    const el = $('conn-state');
    el.dataset.state = s;
    /** @type {HTMLElement} */ (el.querySelector('.state-icon')).textContent = icon;
    /** @type {HTMLElement} */ (el.querySelector('.state-text')).textContent = text;
}

// ---------------------------------------------------------------------------------------
// streams

async function getJson(/** @type {string} */ url, /** @type {RequestInit} */ init = {}) {
    const r = await fetch(url, { cache: 'no-store', ...init });
    const body = await r.json().catch(() => null);
    return { ok: r.ok, status: r.status, body };
}

async function loadStreams() {
    let res;
    try {
        res = await getJson('/api/streams');
    } catch {
        return;
    }
    if (!res.ok || !res.body) return;
    app.streams = res.body.streams ?? [];
    const sel = /** @type {HTMLSelectElement} */ ($('stream-select'));
    const ids = app.streams.map((s) => s.id);
    if ([...sel.options].map((o) => o.value).join() !== ids.join()) {
        sel.replaceChildren(...app.streams.map((s) => new Option(s.id, s.id)));
    }
    const want = decodeURIComponent(location.hash.slice(1)) || app.streamId || ids[0];
    const pick = ids.includes(want) ? want : ids[0];
    if (pick) sel.value = pick;
    $('streams-body').innerHTML = app.streams
        .map((s) => {
            const st = s.ended ? `ended: ${esc(s.ended)}` : s.paused ? 'paused' : 'live';
            const cls = s.id === app.streamId ? ' class="selected"' : '';
            return `<tr${cls}><td><a href="#${encodeURIComponent(s.id)}">${esc(s.id)}</a></td><td class="wrap">${esc(s.source)}</td>` +
                `<td>${fmt.hz(s.sample_rate)}, ${s.channels === 1 ? 'mono' : 'stereo'}, ${s.frame_ms} ms frames</td>` +
                `<td>${fmt.int(s.listeners)}</td><td>${st}</td></tr>`;
        })
        .join('');
    if (pick && pick !== app.streamId) openStream(pick);
}

function streamInfo() {
    return app.streams.find((s) => s.id === app.streamId);
}

/** Opens the visual connection for a stream (closing the previous one). */
function openStream(/** @type {string} */ id) {
    app.client?.disconnect();
    const wasPlaying = !!app.player;
    if (app.player) stopListening();
    app.streamId = id;
    app.ringA.clear();
    app.ringB.clear();
    app.lastFrame = null;
    app.rate = 0;
    app.sparks = {};
    app.dirty = true;
    const info = streamInfo();
    $('stream-source').textContent = info ? `${info.source} · ${fmt.hz(info.sample_rate)} · ${info.channels === 1 ? 'mono' : 'stereo'}` : '';
    const client = new AudioStreamClient('', app.token || null, { streamId: id, format: 'lightweight', maxFps: 25, historySize: 50, statsIntervalMs: 0 });
    app.client = client;
    client.onFrame = (f) => {
        if (f.sample_rate !== app.rate) {
            // quality changed: the old samples are at another rate
            app.rate = f.sample_rate;
            app.ringA.clear();
            app.ringB.clear();
        }
        app.ringA.write(f.channel_a);
        app.ringB.write(f.channel_b);
        app.lastFrame = f;
        app.dirty = true;
    };
    client.onStateChange = () => showState();
    client.onStatus = (s) => {
        if (s.status === 'quality' && typeof s.quality === 'number') {
            /** @type {HTMLInputElement} */ ($('quality')).value = String(s.quality);
            showQuality();
        }
        showState();
    };
    client.onError = () => showState();
    showState();
    client.connect().catch(() => showState());
    refreshStats();
    setTimeout(loadStreams, 1000); // the listener count now includes this page
    if (wasPlaying) startListening();
    document.querySelectorAll('#streams-body tr').forEach((tr) => tr.classList.toggle('selected', tr.querySelector('a')?.textContent === id));
}

// ---------------------------------------------------------------------------------------
// canvases

/** Sizes a canvas's backing store to its CSS size × devicePixelRatio; true if changed. */
function fitCanvas(/** @type {HTMLCanvasElement} */ c) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) {
        c.width = w;
        c.height = h;
        return true;
    }
    return false;
}

function drawWave() {
    const c = /** @type {HTMLCanvasElement} */ ($('wave'));
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
    const windowMs = Number(/** @type {HTMLSelectElement} */ ($('wave-window')).value);
    g.font = `${12 * dpr}px system-ui, sans-serif`;
    g.fillStyle = COLORS.text;
    g.fillText(`A (left)`, 6 * dpr, 14 * dpr);
    g.fillText(`B (right)`, 6 * dpr, lane + 14 * dpr);
    const scaleLabel = `${windowMs} ms`;
    g.fillText(scaleLabel, W - g.measureText(scaleLabel).width - 6 * dpr, H - 6 * dpr);
    if (!app.rate || app.ringA.length === 0) {
        g.fillText('waiting for audio…', W / 2 - 50 * dpr, lane / 2);
        return;
    }
    const n = Math.max(2, Math.round((app.rate * windowMs) / 1000));
    const search = Math.min(Math.round(app.rate * 0.025), n);
    const a = app.ringA.latest(n + search);
    const b = app.ringB.latest(n + search);
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

const SPEC = { minHz: 20, minDb: -100, maxDb: 0 };

function drawSpectrum() {
    const c = /** @type {HTMLCanvasElement} */ ($('spectrum'));
    const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
    const { width: W, height: H } = c;
    const dpr = window.devicePixelRatio || 1;
    g.fillStyle = COLORS.bg;
    g.fillRect(0, 0, W, H);
    const rate = app.rate || 48000;
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
    if (!app.rate || app.ringA.length < 256) return;
    const N = rate >= 16000 ? 2048 : 1024;
    const peaks = [];
    for (const [ch, ring, color, dashed] of /** @type {const} */ ([
        ['A', app.ringA, COLORS.a, false],
        ['B', app.ringB, COLORS.b, true],
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
    $('spec-peaks').textContent = peaks.join(', ');
}

// ---------------------------------------------------------------------------------------
// meters and frame info

function updateMeters(/** @type {number} */ now, /** @type {boolean} */ withText) {
    const win = Math.max(1, Math.round((app.rate || 48000) * 0.05)); // 50 ms
    for (const [ch, ring] of /** @type {const} */ ([
        ['a', app.ringA],
        ['b', app.ringB],
    ])) {
        const { rms, peak } = app.rate ? levels(ring.latest(win)) : { rms: 0, peak: 0 };
        const rmsDb = toDb(rms);
        const peakDb = toDb(peak);
        // peak hold: 1.5 s, then falls at 20 dB/s
        const hold = app.peakHold[ch];
        if (peakDb >= hold.db) {
            hold.db = peakDb;
            hold.at = now;
        } else if (now - hold.at > 1500) {
            hold.db = Math.max(peakDb, hold.db - (20 * Math.max(0, now - (hold.fell ?? now))) / 1000);
        }
        hold.fell = now;
        const pct = (/** @type {number} */ db) => `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100)).toFixed(1)}%`;
        const meter = $(`meter-${ch}`);
        /** @type {HTMLElement} */ (meter.querySelector('.meter-rms')).style.setProperty('--v', pct(rmsDb));
        /** @type {HTMLElement} */ (meter.querySelector('.meter-peak')).style.left = `calc(${pct(hold.db)} - 3px)`;
        if (withText) {
            meter.setAttribute('aria-valuenow', String(Math.max(-60, Math.round(rmsDb))));
            const text = `RMS ${fmt.db(rmsDb)} dBFS · peak ${fmt.db(peakDb)} dBFS${peakDb >= -0.1 ? ' · CLIP' : ''}`;
            meter.setAttribute('aria-valuetext', text);
            $(`meter-${ch}-text`).textContent = text;
        }
    }
}

function updateFrameInfo() {
    const f = app.lastFrame;
    const c = app.client;
    if (!f || !c) return;
    const s = c.getStats();
    const info = streamInfo();
    $('fi-frame').textContent = `#${fmt.int(f.frame_number + f.frames - 1)}`;
    $('fi-rate').textContent =
        info && info.sample_rate !== f.sample_rate ? `${fmt.hz(info.sample_rate)} (shown ${fmt.hz(f.sample_rate)})` : fmt.hz(f.sample_rate);
    $('fi-duration').textContent = fmt.ms(f.duration_ms / f.frames);
    $('fi-latency').textContent = fmt.ms(s.avgLatencyMs ?? s.latencyMs);
    $('fi-eps').textContent = `${fmt.fixed(s.eventsPerSecond, 0)} (${fmt.fixed(s.fps, 0)} frames/s)`;
    $('fi-missing').textContent = fmt.int(s.missingFrames + s.invalidFrames);
}

let lastSpectrum = 0;
let lastText = 0;
let lastMeterText = 0;
/** The one drawing loop, at display rate. */
function render(/** @type {number} */ ts) {
    requestAnimationFrame(render);
    // both canvases are fitted (no short-circuit)
    const resizedWave = fitCanvas(/** @type {HTMLCanvasElement} */ ($('wave')));
    const resized = fitCanvas(/** @type {HTMLCanvasElement} */ ($('spectrum'))) || resizedWave;
    const withText = ts - lastText > 250;
    if (app.dirty || resized) {
        drawWave();
        // numbers change at most 4 times a second (readable), bars at every new block
        const meterText = ts - lastMeterText > 250;
        updateMeters(ts, meterText);
        if (meterText) lastMeterText = ts;
    }
    if ((app.dirty && ts - lastSpectrum > 66) || resized) {
        drawSpectrum();
        lastSpectrum = ts;
    }
    if (withText) {
        updateFrameInfo();
        lastText = ts;
    }
    app.dirty = false;
}

// ---------------------------------------------------------------------------------------
// stats, connections, perf (every 2 s)

const STAT_ITEMS = [
    { key: 'listeners', label: 'Listeners', get: (/** @type {any} */ s) => s.active_subscribers, show: fmt.int },
    { key: 'fps', label: 'Frames/s', get: (/** @type {any} */ s) => s.frames_per_second, show: (/** @type {number} */ v) => fmt.fixed(v, 1) },
    { key: 'dropped', label: 'Dropped frames', get: (/** @type {any} */ s) => s.dropped_frames, show: fmt.int },
    { key: 'mbps', label: 'Bandwidth', get: (/** @type {any} */ s) => s.bandwidth_usage_mbps, show: (/** @type {number} */ v) => `${fmt.fixed(v, 2)} Mbit/s` },
    { key: 'latency', label: 'Avg latency', get: (/** @type {any} */ s) => s.average_latency_ms, show: fmt.ms },
    { key: 'cpu', label: 'Server CPU', get: (/** @type {any} */ s) => s.cpu_usage, show: (/** @type {number} */ v) => `${fmt.fixed(v, 1)} %` },
    { key: 'mem', label: 'Server memory', get: (/** @type {any} */ s) => s.memory_usage?.used_bytes, show: fmt.bytes },
    { key: 'frames', label: 'Total frames', get: (/** @type {any} */ s) => s.total_frames, show: fmt.int, noSpark: true },
    { key: 'uptime', label: 'Uptime', get: (/** @type {any} */ s) => s.uptime_seconds, show: fmt.dur, noSpark: true },
];

function buildStatsList() {
    $('stats-list').innerHTML = STAT_ITEMS.map(
        (it) =>
            `<div data-key="${it.key}"><dt>${it.label}</dt><dd>–</dd>` +
            (it.noSpark ? '' : `<svg viewBox="0 0 ${SPARK_POINTS} 28" preserveAspectRatio="none" aria-hidden="true"><line class="spark-base" x1="0" y1="27.5" x2="${SPARK_POINTS}" y2="27.5"/><polygon class="spark-area" points=""/><polyline points=""/></svg>`) +
            `</div>`,
    ).join('');
}

function sparkPoints(/** @type {number[]} */ v) {
    if (v.length === 0) return { line: '', area: '' };
    const max = Math.max(...v);
    const min = Math.min(0, ...v);
    const span = max - min || 1;
    const x0 = SPARK_POINTS - v.length;
    const pts = v.map((y, i) => `${x0 + i},${(27 - ((y - min) / span) * 25).toFixed(2)}`);
    return { line: pts.join(' '), area: `${x0},28 ${pts.join(' ')} ${SPARK_POINTS - 1},28` };
}

async function refreshStats() {
    const id = app.streamId;
    if (!id) return;
    let res;
    try {
        res = await getJson(`/api/streams/${encodeURIComponent(id)}/stats`);
    } catch {
        $('stats-updated').textContent = '(server unreachable)';
        return;
    }
    if (id !== app.streamId || !res.ok || !res.body) return;
    const s = res.body;
    for (const it of STAT_ITEMS) {
        const v = Number(it.get(s));
        const row = /** @type {HTMLElement} */ ($('stats-list').querySelector(`[data-key="${it.key}"]`));
        if (!row) continue;
        /** @type {HTMLElement} */ (row.querySelector('dd')).textContent = it.show(v);
        if (it.noSpark) continue;
        const hist = (app.sparks[it.key] ??= []);
        hist.push(Number.isFinite(v) ? v : 0);
        if (hist.length > SPARK_POINTS) hist.splice(0, hist.length - SPARK_POINTS);
        const { line, area } = sparkPoints(hist);
        row.querySelector('polyline')?.setAttribute('points', line);
        row.querySelector('polygon')?.setAttribute('points', area);
    }
    app.statsUpdates++;
    $('stats').dataset.updates = String(app.statsUpdates);
    $('stats-updated').textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`;
    await renderConnections(s.connections ?? []);
}

async function renderConnections(/** @type {any[]} */ conns) {
    /** @type {Map<string, any>} */
    const health = new Map();
    if (app.token && !app.debugDenied) {
        try {
            const r = await getJson(`/api/streams/${encodeURIComponent(app.streamId ?? '')}/debug/connections`, {
                headers: { Authorization: `Bearer ${app.token}` },
            });
            if (r.ok) for (const c of r.body?.connections ?? []) health.set(String(c.id), c);
            else if (r.status === 401 || r.status === 403) app.debugDenied = true;
        } catch {
            // the basic table is still useful
        }
    }
    $('conn-note').textContent = health.size
        ? 'Health from /debug/connections.'
        : app.debugDenied
          ? 'The token lacks debug_access: health details are not shown.'
          : 'Enter a token with debug_access (Controls) to see each connection’s health.';
    const now = Date.now();
    $('conn-body').innerHTML = conns.length
        ? conns
              .map((c) => {
                  const h = health.get(String(c.id));
                  const status = h ? `<span class="badge lvl-${esc(h.status)}">${esc(h.status)}</span>${h.warnings?.length ? ` <span class="small">${esc(h.warnings.join('; '))}</span>` : ''}` : '<span class="muted">–</span>';
                  const uaFull = String(c.user_agent ?? '');
                  const ua = uaFull.match(/(Firefox|Edg|OPR|HeadlessChrome|Chrome|Safari|curl|ondes[\w-]*|reqwest)\/[\d.]+/)?.[0] ?? uaFull.slice(0, 32);
                  return `<tr><td>${esc(c.id)}</td><td>${esc(c.transport ?? 'sse')}</td><td class="wrap">${esc(c.ip_address)}${ua ? ` · <span class="muted">${esc(ua)}</span>` : ''}</td>` +
                      `<td>${fmt.dur((now - c.connected_at) / 1000)}</td><td>${fmt.int(c.frames_sent)}</td><td>${fmt.int(c.skipped_frames ?? 0)}</td>` +
                      `<td>${fmt.ms(c.latency_ms)}</td><td>${fmt.bytes(c.bytes_sent)}</td><td>${clientReport(c.client_report)}</td><td class="wrap">${status}</td></tr>`;
              })
              .join('')
        : '<tr><td colspan="10" class="muted">no listeners</td></tr>';
}

/** A listener's own report (WebSocket clients send one about once a second). */
function clientReport(/** @type {any} */ r) {
    if (!r || typeof r !== 'object') return '<span class="muted">–</span>';
    const parts = [];
    if (typeof r.buffer_ms === 'number') parts.push(`buffer ${fmt.ms(r.buffer_ms)}`);
    if (typeof r.underruns === 'number') parts.push(`${fmt.int(r.underruns)} underruns`);
    if (typeof r.concealed_ms === 'number' && r.concealed_ms > 0) parts.push(`${fmt.ms(r.concealed_ms)} concealed`);
    if (typeof r.lost_frames === 'number' && r.lost_frames > 0) parts.push(`${fmt.int(r.lost_frames)} lost`);
    if (typeof r.rtt_ms === 'number') parts.push(`RTT ${fmt.ms(r.rtt_ms)}`);
    return esc(parts.join(' · ') || 'reported');
}

/** GET /api/perf; a 404 means this server has no perf monitor (checked again each minute). */
async function refreshPerf() {
    const now = Date.now();
    if (app.perfAvailable === false && now - app.lastPerfCheck < 60_000) return;
    app.lastPerfCheck = now;
    let res;
    try {
        res = await getJson('/api/perf');
    } catch {
        return;
    }
    if (!res.ok || !res.body) {
        app.perfAvailable = false;
        $('perf-body').innerHTML =
            res.status === 404
                ? '<p class="muted" data-perf="unavailable">Not available: this server has no performance monitor (<code>GET /api/perf</code> answered 404).</p>'
                : `<p class="muted" data-perf="unavailable">Not available (<code>GET /api/perf</code> answered ${res.status}).</p>`;
        return;
    }
    app.perfAvailable = true;
    $('perf-body').innerHTML = renderPerf(res.body);
}

/**
 * Renders the perf monitor's report (docs/perf.md, `GET /api/perf`): measured operations
 * worst first with their level as text, then bottlenecks, alerts and SLA checks. Tolerant
 * of missing fields (and of `operations` given as an object keyed by name).
 */
export function renderPerf(/** @type {any} */ j) {
    const raw = j.operations ?? [];
    /** @type {any[]} */
    const ops = Array.isArray(raw) ? raw : Object.entries(raw).map(([name, v]) => ({ name, ...(/** @type {any} */ (v)) }));
    const nameOf = (/** @type {any} */ o) => o?.name ?? o?.op ?? o?.operation ?? '?';
    const lvl = (/** @type {any} */ l) => (l ? `<span class="badge lvl-${esc(String(l).toUpperCase())}">${esc(String(l).toUpperCase())}</span>` : '–');
    const measured = ops.filter((o) => o.stats);
    const idle = ops.filter((o) => !o.stats).map(nameOf);
    const rows = measured
        .map((op) => {
            const st = op.stats;
            const trend = typeof op.trend === 'object' && op.trend ? op.trend.trend : op.trend;
            const success = typeof st.success_rate === 'number' ? `${(st.success_rate * 100).toFixed(1)} %` : '–';
            const pct = typeof op.ratio === 'number' ? ` <span class="muted small">${fmt.fixed(op.ratio * 100, op.ratio < 0.1 ? 1 : 0)} %</span>` : '';
            return `<tr><td>${esc(nameOf(op))}</td><td>${lvl(op.level)}${pct}</td><td>${fmt.int(st.count)}</td>` +
                `<td>${fmt.us(st.avg_us)}</td><td>${fmt.us(st.p95_us)}</td><td>${fmt.us(st.p99_us)}</td><td>${fmt.us(st.max_us)}</td>` +
                `<td>${fmt.us(op.threshold_us)}</td><td>${success}</td><td>${esc(trend ?? '–')}</td></tr>`;
        })
        .join('');
    const items = (/** @type {any} */ xs) => (Array.isArray(xs) ? xs : []);
    const bottlenecks = items(j.bottlenecks).map(
        (b) =>
            `<li>${lvl(b.level)} <b>${esc(nameOf(b))}</b>${typeof b.ratio === 'number' ? ` at ${Math.round(b.ratio * 100)} % of its threshold` : ''}` +
            `${b.suggestions?.length ? ` — ${esc(b.suggestions[0])}` : ''}</li>`,
    );
    const alerts = items(j.alerts).map(
        (a) => `<li><b>${esc(a.kind ?? 'alert')}</b>: ${esc(a.message ?? nameOf(a))}${a.suggestions?.length ? ` — ${esc(a.suggestions[0])}` : ''}</li>`,
    );
    const slas = items(j.slas).map((x) => `<li><b>${esc(String(x.status ?? '').toUpperCase())}</b> ${esc(x.description ?? nameOf(x))}${typeof x.measured_us === 'number' ? ` (measured ${fmt.us(x.measured_us)})` : ''}</li>`);
    const list = (/** @type {string[]} */ li, /** @type {string} */ title, /** @type {string} */ none) =>
        li.length ? `<p class="list-title">${title}:</p><ul class="plain">${li.join('')}</ul>` : `<p class="muted small">${none}</p>`;
    return (
        `<div class="table-wrap"><table data-perf="table"><thead><tr><th scope="col">operation</th><th scope="col">level</th><th scope="col">count</th><th scope="col">avg</th><th scope="col">p95</th><th scope="col">p99</th><th scope="col">max</th><th scope="col">threshold</th><th scope="col">success</th><th scope="col">trend</th></tr></thead>` +
        `<tbody>${rows || '<tr><td colspan="10" class="muted">no operation measured yet</td></tr>'}</tbody></table></div>` +
        (idle.length ? `<p class="muted small">No data yet: ${idle.map(esc).join(', ')}.</p>` : '') +
        list(bottlenecks, 'Bottlenecks (worst first)', 'No bottleneck: every measured stage is within its threshold.') +
        list(alerts, 'Alerts', 'No alerts.') +
        (slas.length ? list(slas, 'SLA checks', '') : '')
    );
}

// ---------------------------------------------------------------------------------------
// listening

function startListening() {
    if (!app.streamId) return;
    const info = streamInfo();
    const player = new Player('', {
        streamId: app.streamId,
        token: app.token || null,
        sampleRate: info?.sample_rate,
        frameMs: info?.frame_ms,
        volume: Number(/** @type {HTMLInputElement} */ ($('volume')).value),
    });
    app.player = player;
    // exposed for tests and for the curious (window.ondes.player.getStats())
    /** @type {any} */ (window).ondes.player = player;
    let lastShown = 0;
    player.onStats = (s) => {
        const now = performance.now();
        if (now - lastShown < 250) return;
        lastShown = now;
        $('ps-state').textContent = s.state === 'playing' ? `playing (${s.source})` : s.state;
        $('ps-buffer').textContent = fmt.ms(s.bufferMs);
        $('ps-target').textContent = `${fmt.ms(s.targetMs)} (jitter ${fmt.ms(s.jitterMs)})`;
        $('ps-latency').textContent = fmt.ms(s.latencyMs);
        $('ps-underruns').textContent = fmt.int(s.underruns);
        $('ps-concealed').textContent = fmt.ms(s.concealedMs);
        $('ps-transport').textContent = transportText(s);
        $('ps-rtt').textContent = s.rttMs === null ? '–' : fmt.ms(s.rttMs);
    };
    player.onError = (e) => {
        $('ps-state').textContent = `error: ${e.message}`;
    };
    setListenButton(true);
    player.start().catch((e) => {
        $('ps-state').textContent = `could not start: ${e?.message ?? e}`;
        setListenButton(false);
        app.player = null;
    });
}

/** "WebSocket · Opus 64 kbit/s" and the like. */
function transportText(/** @type {import('./player.js').PlayerStats} */ s) {
    const [t] = s.source.split('-');
    const transport = t === 'ws' ? 'WebSocket' : t === 'sse' ? 'SSE' : s.source;
    const codec = s.codec === 'opus' ? `Opus${s.rung && /^\d+$/.test(s.rung) ? ` ${s.rung} kbit/s` : ''}` : s.codec === 'pcm16' ? '16-bit PCM' : (s.codec ?? '');
    return codec ? `${transport} · ${codec}` : transport;
}

function stopListening() {
    const p = app.player;
    app.player = null;
    setListenButton(false);
    $('ps-state').textContent = 'stopped';
    $('ps-transport').textContent = '–';
    $('ps-rtt').textContent = '–';
    p?.stop().catch(() => {});
}

function setListenButton(/** @type {boolean} */ on) {
    const b = $('listen-btn');
    b.setAttribute('aria-pressed', String(on));
    b.innerHTML = on ? '<span aria-hidden="true">■</span> Stop' : '<span aria-hidden="true">▶</span> Listen';
}

// ---------------------------------------------------------------------------------------
// controls

function showToken() {
    $('token-state').textContent = app.token
        ? 'A token is set for this tab (kept in sessionStorage until the tab closes).'
        : 'No token: controls will be refused (401).';
}

function showQuality() {
    const q = Number(/** @type {HTMLInputElement} */ ($('quality')).value);
    const info = streamInfo();
    const hz = info ? ` → ${fmt.hz((info.sample_rate * q))}` : '';
    $('quality-text').textContent = `${q.toFixed(2)}${hz}`;
}

async function command(/** @type {string} */ action, /** @type {Record<string, unknown>} */ params = undefined) {
    const out = $('control-result');
    out.className = 'result';
    out.textContent = `${action}…`;
    const client = app.client ?? new AudioStreamClient('', app.token || null, { streamId: app.streamId ?? 'main' });
    client.authToken = app.token || null;
    try {
        const r = await client.sendCommand(action, params);
        out.className = 'result ok';
        out.textContent = `✓ ${r?.message ?? 'done'}`;
    } catch (e) {
        const err = /** @type {any} */ (e);
        out.className = 'result err';
        const hint = err.status === 401 ? ' — enter a token above' : err.status === 403 ? ' — the token lacks stream_control' : '';
        out.textContent = `✗ ${err.status ? `${err.status} ` : ''}${err.detail ?? err.message}${hint}`;
    }
}

function wire() {
    $('stream-select').addEventListener('change', (e) => {
        location.hash = encodeURIComponent(/** @type {HTMLSelectElement} */ (e.target).value);
    });
    window.addEventListener('hashchange', () => {
        const id = decodeURIComponent(location.hash.slice(1));
        if (id && id !== app.streamId && app.streams.some((s) => s.id === id)) {
            /** @type {HTMLSelectElement} */ ($('stream-select')).value = id;
            openStream(id);
        }
    });
    $('wave-window').addEventListener('change', () => (app.dirty = true));
    $('listen-btn').addEventListener('click', () => (app.player ? stopListening() : startListening()));
    $('volume').addEventListener('input', (e) => app.player?.setVolume(Number(/** @type {HTMLInputElement} */ (e.target).value)));
    const tokenInput = /** @type {HTMLInputElement} */ ($('token'));
    tokenInput.value = app.token;
    $('token-form').addEventListener('submit', (e) => {
        e.preventDefault();
        app.token = tokenInput.value.trim();
        if (app.token) sessionStorage.setItem(TOKEN_KEY, app.token);
        else sessionStorage.removeItem(TOKEN_KEY);
        app.debugDenied = false;
        showToken();
        if (app.streamId) openStream(app.streamId);
    });
    $('token-clear').addEventListener('click', () => {
        tokenInput.value = '';
        app.token = '';
        sessionStorage.removeItem(TOKEN_KEY);
        showToken();
        if (app.streamId) openStream(app.streamId);
    });
    $('btn-pause').addEventListener('click', () => command('pause'));
    $('btn-resume').addEventListener('click', () => command('resume'));
    $('quality').addEventListener('input', showQuality);
    $('btn-quality').addEventListener('click', () => command('adjust_quality', { quality: Number(/** @type {HTMLInputElement} */ ($('quality')).value) }));
}

async function main() {
    /** @type {any} */ (window).ondes = { app, player: null };
    buildStatsList();
    wire();
    showToken();
    showState();
    await loadStreams();
    showQuality();
    requestAnimationFrame(render);
    setInterval(refreshStats, STATS_EVERY_MS);
    setInterval(loadStreams, 5000);
    refreshPerf();
    setInterval(refreshPerf, 5000);
}

main();
