// The Player in a real Chromium against a real ondes: WebSocket Opus (WebCodecs) by default,
// WebSocket PCM16 when the browser has no Opus decoder, SSE PCM16 on request → AudioWorklet
// with the adaptive jitter buffer → the (headless, fake) audio output, measured through an
// AnalyserNode; the WebSocket player's reports must reach the server.
//
// The page is /player.html served by ondes itself: a page on the server's origin (so the
// WebSocket is same-origin, WebCodecs has its secure context on 127.0.0.1, and Chromium's
// local-network-access checks, which block a WebSocket to 127.0.0.1 from a page of unknown
// address space such as a route-fulfilled one, do not apply).
//
// Zero underruns after start is asserted strictly. On a shared, oversubscribed machine the
// browser's audio and network threads are descheduled for tens to hundreds of milliseconds,
// which no low-latency buffer survives; such a run is recognised by independent witnesses —
// this Node process's own event loop falling ≥ 150 ms behind (it sees ~50 ms when the
// machine is quiet), the page's main thread ≥ 50 ms, or a 1-minute load average of at least
// twice the number of cores — and then (only then) played
// once more. A fault of the player or the server fails both attempts; a machine that stays
// overloaded does too (the message says so).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import os from 'node:os';
import { startOndes, launchBrowser, watchConsole, sleep } from './helpers.mjs';

let ondes;
let browser;

before(async () => {
    ondes = await startOndes();
    browser = await launchBrowser();
});

after(async () => {
    await browser?.close();
    await ondes?.stop();
});

/**
 * Starts a Player in the page with `options` (and `setup` run first in the page), samples
 * its stats and output RMS every 250 ms for `ms`, runs `whilePlaying` (in Node), stops it.
 */
async function playFor(page, { options = {}, removeAudioDecoder = false, ms, whilePlaying = async () => {} }) {
    await page.goto(`${ondes.url}/player.html`);
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    await page.evaluate(
        async ({ options, removeAudioDecoder }) => {
            const w = /** @type {any} */ (window);
            if (removeAudioDecoder) delete w.AudioDecoder; // a browser without WebCodecs audio
            const { Player } = await import('/player.js');
            const p = new Player('', options); // asks /api/streams for the rate and frame duration
            w.player = p;
            w.samples = [];
            await p.start();
            const t0 = performance.now();
            w.timer = setInterval(() => {
                w.samples.push({ t: performance.now() - t0, rms: p.outputRms(), ...p.getStats() });
            }, 250);
            // the page's main thread: how late a 50 ms timer fires
            w.maxLag = 0;
            let expected = performance.now() + 50;
            w.lagTimer = setInterval(() => {
                const now = performance.now();
                w.maxLag = Math.max(w.maxLag, now - expected);
                expected = now + 50;
            }, 50);
        },
        { options, removeAudioDecoder },
    );
    await sleep(ms);
    const during = await whilePlaying();
    const { samples, pageLagMs } = await page.evaluate(async () => {
        const w = /** @type {any} */ (window);
        clearInterval(w.timer);
        clearInterval(w.lagTimer);
        const s = w.samples;
        await w.player.stop();
        return { samples: s, pageLagMs: w.maxLag };
    });
    loopDelay.disable();
    const nodeLagMs = loopDelay.max / 1e6;
    return { samples, during, stall: { nodeLagMs: Math.round(nodeLagMs), pageLagMs: Math.round(pageLagMs) } };
}

/**
 * {@link playFor} then {@link checkPlayback}; played once more only if the checks failed
 * while the machine demonstrably stalled (see the header).
 */
async function playAndCheck(t, page, playOpts, checks) {
    for (let attempt = 1; ; attempt++) {
        const run = await playFor(page, playOpts);
        const load = os.loadavg()[0];
        const stalled = run.stall.nodeLagMs >= 150 || run.stall.pageLagMs >= 50 || load >= 2 * os.cpus().length;
        t.diagnostic(`attempt ${attempt}: test process at most ${run.stall.nodeLagMs} ms late, page ${run.stall.pageLagMs} ms late, load average ${os.loadavg()[0].toFixed(1)}`);
        try {
            return { ...run, last: checkPlayback(t, run.samples, checks) };
        } catch (e) {
            if (attempt >= 2 && stalled && e instanceof Error) {
                e.message += ` — the machine was overloaded on both attempts (now: test process ${run.stall.nodeLagMs} ms late, page ${run.stall.pageLagMs} ms late, load average ${load.toFixed(1)} on ${os.cpus().length} cores)`;
            }
            if (attempt >= 2 || !stalled) throw e;
            const msg = `attempt ${attempt} failed while the machine was overloaded (test process ${run.stall.nodeLagMs} ms late, page ${run.stall.pageLagMs} ms late, load average ${load.toFixed(1)} on ${os.cpus().length} cores): ${e instanceof Error ? e.message.split('\n')[0] : e}; playing once more`;
            console.log(`# ${msg}`);
            t.diagnostic(msg);
        }
    }
}

/** The common checks: playing within 2 s, audible, no underruns or concealment after start. */
function checkPlayback(t, samples, { minSamples, minFrames }) {
    // on failure, the whole trace helps: print it compactly
    const trace = samples
        .map(
            (s) =>
                `${(s.t / 1000).toFixed(2)}s ${s.state} buf=${s.bufferMs.toFixed(0)} tgt=${s.targetMs.toFixed(0)} jit=${s.jitterMs.toFixed(0)} und=${s.underruns} conc=${s.concealedMs.toFixed(0)} lat=${s.latencyMs?.toFixed(0)} rtt=${s.rttMs?.toFixed(1)} rms=${s.rms.toFixed(2)}`,
        )
        .join('\n');
    t.diagnostic(trace);
    const start = samples.findIndex((s) => s.state === 'playing');
    assert.ok(start >= 0 && samples[start].t < 2000, `playing within 2 s (first playing sample at index ${start})`);
    const playing = samples.slice(start);
    assert.ok(playing.length >= minSamples, `${playing.length} samples while playing`);
    const atStart = playing[0];
    const last = playing[playing.length - 1];
    const summary = `buffer ${last.bufferMs.toFixed(1)} ms, target ${last.targetMs.toFixed(1)} ms, latency ${last.latencyMs?.toFixed(1)} ms (output ${last.outputLatencyMs.toFixed(1)} ms), jitter ${last.jitterMs.toFixed(1)} ms`;
    console.log(`# ${last.source} after ${(last.t / 1000).toFixed(0)} s: ${summary}, frames ${last.framesReceived}, sample rate ${last.sampleRate}`);

    // audible: the analyser after the worklet sees the demo's level (about −10 dBFS RMS)
    const quiet = playing.filter((s) => !(s.rms > 0.01));
    assert.ok(quiet.length <= 1, `output RMS > 0.01 while playing (quiet samples: ${JSON.stringify(quiet.map((s) => s.rms))})`);
    const meanRms = playing.reduce((a, s) => a + s.rms, 0) / playing.length;
    assert.ok(meanRms > 0.1 && meanRms < 0.7, `mean output RMS ${meanRms.toFixed(3)}`);

    // no underruns (and nothing concealed) after playback started
    assert.equal(last.underruns - atStart.underruns, 0, `underruns after start (${summary})`);
    assert.equal(last.concealedMs - atStart.concealedMs, 0, `concealed after start (${summary})`);
    for (const s of playing) assert.equal(s.state, 'playing', `stayed playing (saw ${s.state} at ${s.t.toFixed(0)} ms)`);
    assert.equal(last.framesMissing, 0);
    assert.ok(last.framesReceived >= minFrames, `frames received: ${last.framesReceived}`);
    assert.equal(last.sampleRate, 48000);
    // the numbers the dashboard shows are sane
    assert.ok(last.bufferMs >= 0 && last.bufferMs < 300, `buffer ${last.bufferMs}`);
    assert.ok(last.targetMs >= 20 && last.targetMs < 300, `target ${last.targetMs}`);
    assert.ok(typeof last.latencyMs === 'number' && last.latencyMs > 0 && last.latencyMs < 500, `latency ${last.latencyMs}`);
    return last;
}

test('the Player plays the demo over WebSocket Opus for 10 s: audible, no underruns, reports reach the server', async (t) => {
    const { page } = browser;
    const errors = watchConsole(page);
    const { last, during } = await playAndCheck(t, page, {
        ms: 10_500,
        // while it still plays: its reports (every second) are in the stream's stats (shown
        // to a caller with debug_access only: what a listener wrote is not public)
        whilePlaying: async () => {
            assert.ok(ondes.adminToken, 'the demo prints an admin token');
            const auth = { headers: { authorization: `Bearer ${ondes.adminToken}` } };
            const deadline = Date.now() + 5000;
            for (;;) {
                const stats = await (await fetch(`${ondes.url}/api/audio/stats`, auth)).json();
                const conn = stats.connections.find((c) => c.transport === 'ws' && c.client_report?.received_frames > 0);
                if (conn) return { conn, metrics: await (await fetch(`${ondes.url}/metrics`)).text() };
                if (Date.now() > deadline) return { conn: null, stats };
                await sleep(200);
            }
        },
    }, { minSamples: 30, minFrames: 400 });
    assert.equal(last.source, 'ws-opus');
    assert.equal(last.codec, 'opus');
    assert.equal(last.rung, '64', 'the top of the demo ladder (16/32/64 kbit/s)');
    assert.ok(typeof last.rttMs === 'number' && last.rttMs >= 0 && last.rttMs < 200, `rtt ${last.rttMs}`);

    const { conn } = during;
    assert.ok(conn, `a ws connection with a client report in /api/audio/stats: ${JSON.stringify(during.stats?.connections)}`);
    const r = conn.client_report;
    t.diagnostic(`client_report: ${JSON.stringify(r)}`);
    assert.equal(r.type, 'report');
    assert.ok(r.received_frames >= 400, `received_frames ${r.received_frames}`);
    assert.ok(r.buffer_ms >= 0 && r.buffer_ms < 300, `buffer_ms ${r.buffer_ms}`);
    assert.ok(r.target_ms >= 20 && r.target_ms < 300, `target_ms ${r.target_ms}`);
    assert.equal(typeof r.underruns, 'number');
    assert.equal(r.lost_frames, 0);
    assert.equal(typeof r.rtt_ms, 'number');
    assert.ok(r.e2e_latency_ms > 0 && r.e2e_latency_ms < 500, `e2e_latency_ms ${r.e2e_latency_ms}`);
    // and counted in /metrics: the end-to-end latency histogram got the reports' values
    const count = Number(during.metrics.match(/^ondes_end_to_end_latency_seconds_count\{stream="main"\} (\d+)/m)?.[1] ?? 0);
    assert.ok(count >= 5, `ondes_end_to_end_latency_seconds_count ${count}`);
    assert.match(during.metrics, /^ondes_client_underruns_total\{stream="main"\} \d+/m);
    assert.deepEqual(errors, []);
});

test('without WebCodecs the Player falls back to WebSocket PCM16', async (t) => {
    const { page } = browser;
    const errors = watchConsole(page);
    const { last } = await playAndCheck(t, page, { removeAudioDecoder: true, ms: 5_000 }, { minSamples: 12, minFrames: 200 });
    assert.equal(last.source, 'ws-pcm16');
    assert.equal(last.codec, 'pcm16');
    assert.equal(last.rung, 'pcm16');
    assert.deepEqual(errors, []);
});

test('the Player plays the demo over SSE PCM16 for 10 s: audible output, no underruns after start', async (t) => {
    const { page } = browser;
    const errors = watchConsole(page);
    const { last } = await playAndCheck(t, page, { options: { transport: 'sse-pcm16' }, ms: 10_500 }, { minSamples: 30, minFrames: 400 });
    assert.equal(last.source, 'sse-pcm16');
    assert.deepEqual(errors, []);
});

test('the dashboard Listen button plays over WebSocket Opus and shows the player stats', async () => {
    const { page } = browser;
    await page.goto(`${ondes.url}/`);
    await page.click('#listen-btn');
    assert.equal(await page.getAttribute('#listen-btn', 'aria-pressed'), 'true');
    await page.waitForFunction(() => /playing/.test(document.getElementById('ps-state')?.textContent ?? ''), null, { timeout: 5000 });
    await page.waitForFunction(() => /\d+ ms/.test(document.getElementById('ps-latency')?.textContent ?? ''), null, { timeout: 5000 });
    assert.match((await page.textContent('#ps-state')) ?? '', /playing \(ws-opus\)/);
    assert.equal(await page.textContent('#ps-transport'), 'WebSocket · Opus 64 kbit/s');
    await page.waitForFunction(() => /\d+(\.\d)? ms/.test(document.getElementById('ps-rtt')?.textContent ?? ''), null, { timeout: 5000 });
    assert.match((await page.textContent('#ps-buffer')) ?? '', /\d+(\.\d)? ms/);
    const rms = await page.evaluate(() => /** @type {any} */ (window).ondes.player.outputRms());
    assert.ok(rms > 0.01, `output RMS ${rms}`);
    await page.click('#listen-btn');
    assert.equal(await page.getAttribute('#listen-btn', 'aria-pressed'), 'false');
    assert.equal(await page.textContent('#ps-state'), 'stopped');
    assert.equal(await page.textContent('#ps-transport'), '–');
});
