// @ts-check
/**
 * The ondes dashboard (served at `/`). Plain ES modules, no build step. This file is the
 * page itself: which stream is shown, its SSE connection and state, and the timers; each
 * panel is its own module (`live-view.js`, `listen-panel.js`, `stats-panel.js`,
 * `connections-panel.js`, `perf-panel.js`, `cluster-panel.js`, `controls-panel.js`, `acquisition-panel.js`), and every read of the HTTP
 * API is in `dashboard-api.js`.
 *
 * Visual path — a deliberate choice: the waveform, meters and spectrum use SSE with
 * `format=lightweight&max_fps=25`. Lightweight halves the samples with the server's
 * anti-aliased 2:1 decimation (48 kHz → 24 kHz: the spectrum still reaches 12 kHz), and
 * the serialisation is made once per frame on the server and shared by every dashboard;
 * `max_fps=25` merges frames in pairs (no audio lost) so the page parses 25 events/s
 * instead of 50. Incoming samples only go into a ring buffer; drawing happens in one
 * requestAnimationFrame loop at display rate, never per event (`live-view.js`). Listening
 * uses its own connection (`Player`, `listen-panel.js`).
 */

import { AudioStreamClient } from './client.js';
import { STATUS } from './protocol.js';
import { $, esc } from './dom.js';
import { fmt } from './format.js';
import { fetchStreams, fetchStreamStats } from './dashboard-api.js';
import { LiveView } from './live-view.js';
import { ListenPanel } from './listen-panel.js';
import { StatsPanel } from './stats-panel.js';
import { AcquisitionPanel } from './acquisition-panel.js';
import { ConnectionsPanel } from './connections-panel.js';
import { PerfPanel } from './perf-panel.js';
import { ClusterPanel } from './cluster-panel.js';
import { ControlsPanel } from './controls-panel.js';

const STATS_EVERY_MS = 2000;
const STREAMS_EVERY_MS = 5000;
const PERF_EVERY_MS = 5000;

// ---------------------------------------------------------------------------------------
// the page's state and panels

const app = {
    /** @type {any[]} the streams, from /api/streams */
    streams: [],
    /** @type {string|null} */
    streamId: null,
    /** @type {AudioStreamClient|null} the visual connection */
    client: null,
};

/** The selected stream as /api/streams describes it. */
const streamInfo = () => app.streams.find((s) => s.id === app.streamId);

const live = new LiveView({ clientStats: () => app.client?.getStats() ?? null, streamInfo });
const listen = new ListenPanel({ onPlayer: (p) => (/** @type {any} */ (window).ondes.player = p) });
const stats = new StatsPanel();
const acquisition = new AcquisitionPanel();
const connections = new ConnectionsPanel();
const perf = new PerfPanel();
const cluster = new ClusterPanel();
/** @type {ControlsPanel} */
const controls = new ControlsPanel({
    streamInfo,
    // commands go with the visual connection's client (or one made for them before it exists)
    client: () => app.client ?? new AudioStreamClient('', controls.token || null, { streamId: app.streamId ?? 'main' }),
    onTokenChange: () => {
        connections.tokenChanged();
        if (app.streamId) openStream(app.streamId);
    },
});

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

/** The visual connection's state, as text (not only an icon or a colour). */
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

/** Refreshes the stream list (and the table); opens the stream the URL's hash names. */
async function loadStreams() {
    let res;
    try {
        res = await fetchStreams();
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

/** Opens the visual connection for a stream (closing the previous one). */
function openStream(/** @type {string} */ id) {
    app.client?.disconnect();
    const wasPlaying = listen.playing;
    if (wasPlaying) listen.stop();
    app.streamId = id;
    live.clear();
    stats.reset();
    acquisition.reset();
    const info = streamInfo();
    $('stream-source').textContent = info ? `${info.source} · ${fmt.hz(info.sample_rate)} · ${info.channels === 1 ? 'mono' : 'stereo'}` : '';
    const client = new AudioStreamClient('', controls.token || null, { streamId: id, format: 'lightweight', maxFps: 25, historySize: 50, statsIntervalMs: 0 });
    app.client = client;
    client.onFrame = (f) => live.push(f);
    client.onStateChange = () => showState();
    client.onStatus = (s) => {
        if (s.status === STATUS.QUALITY && typeof s.quality === 'number') controls.setQuality(s.quality, s.level ?? undefined);
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

function startListening() {
    if (!app.streamId) return;
    listen.start({ streamId: app.streamId, token: controls.token, info: streamInfo() });
}

/** Stream stats, then the connections in them (every 2 s). */
async function refreshStats() {
    const id = app.streamId;
    if (!id) return;
    let res;
    try {
        res = await fetchStreamStats(id, controls.token || null);
    } catch {
        stats.unreachable();
        return;
    }
    if (id !== app.streamId || !res.ok || !res.body) return;
    stats.show(res.body);
    acquisition.show(res.body);
    await connections.show(id, res.body.connections ?? [], controls.token);
}

// ---------------------------------------------------------------------------------------
// start

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
    $('wave-window').addEventListener('change', () => live.invalidate());
    $('listen-btn').addEventListener('click', () => (listen.playing ? listen.stop() : startListening()));
    $('volume').addEventListener('input', (e) => listen.setVolume(Number(/** @type {HTMLInputElement} */ (e.target).value)));
    controls.wire();
}

async function main() {
    // for tests and for the curious (window.ondes.player.getStats())
    /** @type {any} */ (window).ondes = { app, live, listen, player: null };
    stats.build();
    wire();
    controls.showToken();
    showState();
    await loadStreams();
    controls.showQuality();
    live.start();
    setInterval(refreshStats, STATS_EVERY_MS);
    setInterval(loadStreams, STREAMS_EVERY_MS);
    perf.refresh();
    setInterval(() => perf.refresh(), PERF_EVERY_MS);
    cluster.refresh();
    setInterval(() => cluster.refresh(), PERF_EVERY_MS);
}

main();
