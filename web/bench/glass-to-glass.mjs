#!/usr/bin/env node
// Glass-to-glass latency in the browser (a benchmark, not a test).
//
//   node web/bench/glass-to-glass.mjs [--duration 20] [--batch 1] [--compare] [--json]
//
// Starts `ondes serve` (the demo stream: 48 kHz stereo, 20 ms frames, Opus ladder
// 16/32/64 kbit/s) on an ephemeral loopback port and Debian's Chromium (headless, autoplay
// allowed), opens /player.html and plays the stream with the Player over WebSocket Opus
// (`batch=1`: one 20 ms frame per message) for `--duration` seconds with
// `measureLatency: true`. For every frame played it records, on this machine's wall clock:
//
//   capture   the frame's capture timestamp (carried end to end in the wire header)
//   received  its WebSocket message reached the page (onmessage)
//   decoded   WebCodecs AudioDecoder gave its PCM back
//   output    the AudioWorklet output the frame's first sample: Date/performance time when
//             the render quantum holding it was produced + its offset in the quantum
//
// and reports p50/p95/max of capture→output (the glass-to-glass figure, target p50 ≤ 60 ms)
// and of each stage. The output latency the browser reports (AudioContext.outputLatency +
// baseLatency: what the audio device adds after the worklet) is stated separately and also
// added for a "to the speaker" figure. Server and browser share the clock (loopback).
// `--compare` adds, in the same run and one after the other, WebSocket Opus with the
// server's default batch=4 and SSE PCM16, for the ratios.
//
// Environment: ONDES_BIN (default target/debug/ondes; a release build is what users run),
// CHROMIUM_PATH (default /usr/bin/chromium).
import os from 'node:os';
import { startOndes, launchBrowser, watchConsole, sleep, ONDES_BIN } from '../tests/helpers.mjs';
import { summary } from './stats.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
};
const DURATION_S = Number(opt('duration', 20));
const BATCH = Number(opt('batch', 1));
const COMPARE = args.includes('--compare');
const JSON_ONLY = args.includes('--json');
const log = (/** @type {string} */ s) => {
    if (!JSON_ONLY) console.error(s);
};


/**
 * Plays for `seconds` with the given Player options; returns the per-frame records and stats.
 * @param {import('playwright-core').Page} page
 */
async function run(page, baseUrl, label, options, seconds) {
    log(`# ${label}: playing ${seconds} s…`);
    const loadBefore = os.loadavg()[0];
    await page.goto(`${baseUrl}/player.html`);
    await page.evaluate(async (options) => {
        const w = /** @type {any} */ (window);
        const { Player } = await import('/player.js');
        const p = new Player('', { ...options, measureLatency: true });
        w.player = p;
        w.trace = [];
        await p.start();
        const t0 = performance.now();
        w.timer = setInterval(() => w.trace.push({ t: Math.round(performance.now() - t0), ...p.getStats() }), 1000);
    }, options);
    await sleep(seconds * 1000);
    const res = await page.evaluate(async () => {
        const w = /** @type {any} */ (window);
        clearInterval(w.timer);
        const p = w.player;
        const ctx = p.ctx;
        const out = {
            records: p.latencyRecords,
            trace: w.trace,
            final: p.getStats(),
            outputLatencyMs: (ctx.outputLatency || 0) * 1000,
            baseLatencyMs: (ctx.baseLatency || 0) * 1000,
            wallClock: p.worklet.wallClock,
            userAgent: navigator.userAgent,
        };
        await p.stop();
        return out;
    });
    const loadAfter = os.loadavg()[0];
    const recs = res.records;
    // the first second is the jitter buffer's start-up (it fills to its initial target)
    const t0 = recs.length ? recs[0].outputMs : 0;
    const steady = recs.filter((r) => r.outputMs - t0 >= 1000);
    const lastTen = recs.filter((r) => r.outputMs - t0 >= (seconds - 10) * 1000);
    const outLat = res.outputLatencyMs + res.baseLatencyMs;
    const total = steady.map((r) => r.outputMs - r.captureMs);
    const first = res.trace.find((s) => s.state === 'playing');
    return {
        label,
        options,
        seconds,
        frames_played: recs.length,
        frames_measured: steady.length,
        glass_to_glass_ms: summary(total),
        glass_to_glass_last10s_ms: summary(lastTen.map((r) => r.outputMs - r.captureMs)),
        stages_ms: {
            capture_to_received: summary(steady.map((r) => (r.receivedMs ?? NaN) - r.captureMs)),
            received_to_decoded: summary(steady.map((r) => (r.decodedMs ?? NaN) - (r.receivedMs ?? NaN))),
            decoded_to_output: summary(steady.map((r) => r.outputMs - (r.decodedMs ?? NaN))),
        },
        browser_output_latency_ms: { outputLatency: Math.round(res.outputLatencyMs * 10) / 10, baseLatency: Math.round(res.baseLatencyMs * 10) / 10 },
        to_speaker_ms: summary(total.map((x) => x + outLat)),
        jitter_buffer: {
            target_ms: Math.round(res.final.targetMs * 10) / 10,
            jitter_q99_ms: Math.round(res.final.jitterMs * 10) / 10,
            underruns_after_start: res.final.underruns - (first?.underruns ?? 0),
            concealed_ms: Math.round(res.final.concealedMs),
            frames_missing: res.final.framesMissing,
        },
        source: res.final.source,
        codec: res.final.codec,
        rung: res.final.rung,
        rtt_ms: res.final.rttMs === null ? null : Math.round(res.final.rttMs * 100) / 100,
        worklet_clock: res.wallClock,
        load_average_1m: { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadAfter * 100) / 100 },
        // per second: the jitter buffer's view (ms), to see where a bad run went wrong
        trace: res.trace.map((/** @type {any} */ s) => ({
            t_s: Math.round(s.t / 100) / 10,
            state: s.state,
            buffer: Math.round(s.bufferMs),
            target: Math.round(s.targetMs),
            jitter_q99: Math.round(s.jitterMs),
            underruns: s.underruns,
            latency_incl_output: s.latencyMs === null ? null : Math.round(s.latencyMs),
        })),
        user_agent: res.userAgent,
    };
}

const ondes = await startOndes();
const browser = await launchBrowser();
const errors = watchConsole(browser.page);
/** @type {any[]} */
const results = [];
try {
    results.push(await run(browser.page, ondes.url, `WS Opus, batch=${BATCH}`, { transport: 'ws-opus', ws: { batch: BATCH } }, DURATION_S));
    if (COMPARE) {
        results.push(await run(browser.page, ondes.url, 'WS Opus, batch=4', { transport: 'ws-opus', ws: { batch: 4 } }, DURATION_S));
        results.push(await run(browser.page, ondes.url, 'SSE PCM16', { transport: 'sse-pcm16' }, DURATION_S));
    }
} finally {
    await browser.close();
    await ondes.stop();
}

const fmt = (/** @type {{p50: number, p95: number}} */ s) => `${s.p50.toFixed(1)} / ${s.p95.toFixed(1)}`;
const rows = results.map(
    (r) =>
        `| ${r.label} | ${r.frames_measured} | **${fmt(r.glass_to_glass_ms)}** | ${fmt(r.glass_to_glass_last10s_ms)} | ${fmt(r.stages_ms.capture_to_received)} | ${fmt(r.stages_ms.received_to_decoded)} | ${fmt(r.stages_ms.decoded_to_output)} | ${r.jitter_buffer.target_ms} | ${(r.browser_output_latency_ms.outputLatency + r.browser_output_latency_ms.baseLatency).toFixed(1)} | ${fmt(r.to_speaker_ms)} | ${r.jitter_buffer.underruns_after_start} | ${r.load_average_1m.before} |`,
);
const table = [
    '| transport | frames | capture→worklet output p50 / p95 (ms) | same, last 10 s | capture→received | received→decoded | decoded→output | JB target (ms, at end) | browser output latency (ms) | capture→speaker p50 / p95 | underruns | load avg (1 min) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
].join('\n');
const target = results[0].glass_to_glass_ms.p50 <= 60;
if (!JSON_ONLY) {
    console.log(`\nglass-to-glass latency, ondes ${ONDES_BIN}, ${results[0].user_agent}\n`);
    console.log(table);
    console.log(`\ntarget p50 ≤ 60 ms (capture → worklet output, ${results[0].label}): ${target ? 'met' : 'NOT met'} (${results[0].glass_to_glass_ms.p50} ms)\n`);
}
console.log(JSON.stringify({ bench: 'glass-to-glass', binary: ONDES_BIN, duration_s: DURATION_S, target_p50_ms: 60, target_met: target, console_errors: errors, results }, null, JSON_ONLY ? 0 : 2));
