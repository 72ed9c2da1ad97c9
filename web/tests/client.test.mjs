// AudioStreamClient against a real ondes server, from a page on a DIFFERENT origin (CORS):
// the page and its copies of client.js and protocol.js (which client.js imports) come from a
// plain Node HTTP server, the stream and the control API from ondes on another port, as when
// an application embeds our client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { WEB, startOndes, startStaticServer, launchBrowser, mintToken, watchConsole, sleep } from './helpers.mjs';

const SECRET = 'client-test-secret';
let ondes;
let site;
let browser;
let env;

before(async () => {
    site = await startStaticServer({
        '/index.html': { type: 'text/html; charset=utf-8', body: '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>an app embedding the ondes client</title><h1>app</h1>' },
        '/client.js': { type: 'text/javascript; charset=utf-8', body: fs.readFileSync(path.join(WEB, 'static', 'client.js')) },
        '/protocol.js': { type: 'text/javascript; charset=utf-8', body: fs.readFileSync(path.join(WEB, 'static', 'protocol.js')) },
    });
    env = { ONDES_AUTH_SECRET: SECRET, ONDES_CORS_ALLOWED_ORIGINS: site.url };
    ondes = await startOndes({ env });
    browser = await launchBrowser();
});

after(async () => {
    await browser?.close();
    await ondes?.stop();
    await site?.close();
});

/** Opens the app page and creates `window.client` for the ondes server. */
async function openApp(page, { token = null, options = {} } = {}) {
    await page.goto(`${site.url}/index.html`);
    await page.evaluate(
        async ({ base, token, options }) => {
            const { AudioStreamClient } = await import('/client.js');
            const w = /** @type {any} */ (window);
            w.AudioStreamClient = AudioStreamClient;
            const c = new AudioStreamClient(base, token, options);
            w.client = c;
            w.log = { connects: [], disconnects: [], statuses: [], errors: [], states: [], frames: [] };
            c.onConnect = (i) => w.log.connects.push(i);
            c.onDisconnect = (i) => w.log.disconnects.push(i);
            c.onStatus = (s) => w.log.statuses.push(s.status);
            c.onError = (e) => w.log.errors.push(e.type);
            c.onStateChange = (s) => w.log.states.push(s);
            c.onFrame = (f) => {
                w.log.frames.push({ n: f.frame_number, k: f.frames, len: f.channel_a.length, sr: f.sample_rate });
                if (w.log.frames.length > 5000) w.log.frames.splice(0, 1000);
            };
            await c.connect();
        },
        { base: ondes.url, token, options },
    );
}

const stats = (page) => page.evaluate(() => /** @type {any} */ (window).client.getStats());
const waitFrames = (page, atLeast, timeout = 5000) =>
    page.waitForFunction((n) => /** @type {any} */ (window).client.getStats().framesReceived >= n, atLeast, { timeout });

test('cross-origin: frames, stats, pause/resume, rejected commands', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    const token = mintToken(SECRET, ['stream_control']);
    await openApp(page, { token, options: { streamId: 'main', format: 'json', historySize: 500 } });

    // ≥ 20 valid frames with consecutive numbers
    await waitFrames(page, 25);
    const r = await page.evaluate(() => {
        const c = /** @type {any} */ (window).client;
        const h = c.getFrameHistory();
        return {
            numbers: h.map((f) => [f.frame_number, f.frames]),
            lens: h.map((f) => [f.channel_a.length, f.channel_b.length]),
            latest: c.getLatestFrame() && { n: c.getLatestFrame().frame_number, rate: c.getLatestFrame().sample_rate, lat: c.getLatestFrame().latency_ms },
            last5: c.getFrameHistory(5).length,
            rmsA: c.calculateRMS('a'),
            rmsB: c.calculateRMS(1),
        };
    });
    assert.ok(r.numbers.length >= 20, `${r.numbers.length} frames`);
    for (let i = 1; i < r.numbers.length; i++) {
        assert.equal(r.numbers[i][0], r.numbers[i - 1][0] + r.numbers[i - 1][1], `frame ${i} follows frame ${i - 1}`);
    }
    for (const [a, b] of r.lens) {
        assert.equal(a, 960, '20 ms at 48 kHz');
        assert.equal(b, 960);
    }
    assert.equal(r.latest.rate, 48000);
    assert.equal(r.last5, 5);
    assert.ok(r.rmsA > 0.05 && r.rmsA < 1, `channel A RMS ${r.rmsA}`);
    assert.ok(r.rmsB > 0.02 && r.rmsB < 1, `channel B RMS ${r.rmsB}`);

    let s = await stats(page);
    assert.equal(s.state, 'live');
    assert.equal(typeof s.connectionId, 'string');
    assert.ok(s.framesReceived >= 20);
    assert.equal(s.eventsReceived, s.framesReceived, 'one frame per event without max_fps');
    assert.equal(s.missingFrames, 0);
    assert.equal(s.invalidFrames, 0);
    assert.equal(s.duplicateFrames, 0);
    assert.equal(s.reconnects, 0);
    assert.ok(s.fps > 20 && s.fps < 80, `fps ${s.fps}`);
    assert.ok(s.latencyMs > -2 && s.latencyMs < 1000, `latency from the capture timestamp: ${s.latencyMs} ms`);
    assert.ok(s.bytesReceived > 100_000, `bytes ${s.bytesReceived}`);
    assert.ok(s.kbps > 100, `kbps ${s.kbps}`);
    assert.ok(s.lastFrameNumber >= r.latest.n);

    // history is bounded
    const bounded = await page.evaluate(async ({ base }) => {
        const { AudioStreamClient } = await import('/client.js');
        const c = new AudioStreamClient(base, null, { historySize: 7, format: 'lightweight' });
        await c.connect();
        await new Promise((r) => setTimeout(r, 600));
        const out = { kept: c.getFrameHistory().length, got: c.getStats().framesReceived, len: c.getLatestFrame()?.channel_a.length };
        c.disconnect();
        return out;
    }, { base: ondes.url });
    assert.equal(bounded.kept, 7, 'history holds historySize frames');
    assert.ok(bounded.got > 7);
    assert.equal(bounded.len, 480, 'lightweight halves the samples');

    // pause → frames stop
    const paused = await page.evaluate(() => /** @type {any} */ (window).client.sendCommand('pause'));
    assert.equal(paused.success, true);
    await page.waitForFunction(() => /** @type {any} */ (window).client.state === 'paused', null, { timeout: 3000 });
    const atPause = (await stats(page)).framesReceived;
    await sleep(1000);
    s = await stats(page);
    assert.equal(s.framesReceived, atPause, 'no frames while paused');
    assert.equal(s.state, 'paused');

    // resume → frames return
    const resumed = await page.evaluate(() => /** @type {any} */ (window).client.sendCommand('resume'));
    assert.equal(resumed.success, true);
    await waitFrames(page, atPause + 10, 3000);
    s = await stats(page);
    assert.equal(s.state, 'live');
    assert.ok(s.skippedWhilePaused > 0, 'the server skipped the paused time');
    assert.equal(s.missingFrames, 0, 'frames skipped while paused are not counted as lost');
    const statuses = await page.evaluate(() => /** @type {any} */ (window).log.statuses);
    assert.deepEqual(statuses.slice(-2), ['paused', 'resumed']);

    // a bad action is rejected with 400, surfaced to the caller
    const bad = await page.evaluate(() =>
        /** @type {any} */ (window).client.sendCommand('explode').then(
            () => null,
            (e) => ({ name: e.name, status: e.status, code: e.code, message: e.message }),
        ),
    );
    assert.deepEqual({ name: bad?.name, status: bad?.status, code: bad?.code }, { name: 'OndesApiError', status: 400, code: 'unknown_action' });
    const badQuality = await page.evaluate(() =>
        /** @type {any} */ (window).client.sendCommand('adjust_quality', { quality: 7 }).then(
            () => null,
            (e) => e.status,
        ),
    );
    assert.equal(badQuality, 400);

    // control without a token: 401; with a token lacking stream_control: 403 (statuses readable cross-origin)
    const listenOnly = mintToken(SECRET, ['subscribe']);
    const denied = await page.evaluate(
        async ({ base, listenOnly }) => {
            const AudioStreamClient = /** @type {any} */ (window).AudioStreamClient;
            const codeOf = (p) => p.then(() => null, (e) => [e.status, e.code]);
            return {
                none: await codeOf(new AudioStreamClient(base, null).sendCommand('pause')),
                forged: await codeOf(new AudioStreamClient(base, 'eyJhbGciOiJIUzI1NiJ9.e30.AAAA').sendCommand('pause')),
                weak: await codeOf(new AudioStreamClient(base, listenOnly).sendCommand('pause')),
            };
        },
        { base: ondes.url, listenOnly },
    );
    assert.deepEqual(denied.none, [401, 'missing_token']);
    assert.equal(denied.forged[0], 401);
    assert.equal(denied.weak[0], 403);
    s = await stats(page);
    assert.equal(s.state, 'live', 'rejected commands did not pause the stream');

    // the only console errors are the browser's logs of the refused requests
    const unexpected = errors.filter((e) => !/status of (400|401|403)/.test(e.text));
    assert.deepEqual(unexpected, []);
    await page.evaluate(() => /** @type {any} */ (window).client.disconnect());
});

test('cross-origin: reconnects and resumes after the server restarts on the same port', async () => {
    const { page } = browser;
    await openApp(page, { options: { format: 'lightweight', reconnectBaseMs: 200, reconnectMaxMs: 1500, maxReconnectAttempts: 20 } });
    await waitFrames(page, 20);
    const before = await stats(page);
    assert.equal(before.reconnects, 0);

    // kill the server; the client notices and retries with backoff
    const port = ondes.port;
    await ondes.stop();
    await page.waitForFunction(() => /** @type {any} */ (window).client.state === 'reconnecting', null, { timeout: 5000 });
    await sleep(800); // at least one failed attempt against the closed port
    const during = await stats(page);
    assert.equal(during.state, 'reconnecting');
    assert.ok(during.reconnectAttempt >= 1);

    // a new server on the same port: the client reconnects by itself and frames flow again
    ondes = await startOndes({ port, env });
    await page.waitForFunction(() => /** @type {any} */ (window).client.getStats().reconnects >= 1, null, { timeout: 10000 });
    const afterConnect = (await stats(page)).framesReceived;
    await waitFrames(page, afterConnect + 20, 5000);
    const s = await stats(page);
    assert.equal(s.state, 'live');
    assert.equal(s.invalidFrames, 0);
    assert.equal(s.duplicateFrames, 0, 'the restarted numbering is not taken for duplicates');
    const log = await page.evaluate(() => /** @type {any} */ (window).log);
    assert.equal(log.connects.length, 2);
    assert.equal(log.connects[1].reconnect, true);
    assert.ok(log.disconnects.some((d) => d.willReconnect), 'onDisconnect told us it would reconnect');
    assert.ok(log.states.includes('reconnecting') && log.states.at(-1) === 'live', `states: ${log.states.join(' → ')}`);
    // frames after the restart are consecutive again
    const tail = log.frames.slice(-15);
    for (let i = 1; i < tail.length; i++) assert.equal(tail[i].n, tail[i - 1].n + tail[i - 1].k);
    await page.evaluate(() => /** @type {any} */ (window).client.disconnect());
});

test('gives up after maxReconnectAttempts', async () => {
    const { page } = browser;
    await page.goto(`${site.url}/index.html`);
    // a port nobody listens on
    const probe = net.createServer();
    await new Promise((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = probe.address().port;
    await new Promise((r) => probe.close(r));
    const r = await page.evaluate(async (deadPort) => {
        const { AudioStreamClient } = await import('/client.js');
        const c = new AudioStreamClient(`http://127.0.0.1:${deadPort}`, null, { maxReconnectAttempts: 3, reconnectBaseMs: 50, reconnectMaxMs: 200 });
        const states = [];
        c.onStateChange = (s) => states.push(s);
        const t0 = performance.now();
        const outcome = await c.connect().then(
            () => 'connected',
            (e) => String(e.message),
        );
        return { outcome, states, attempts: c.getStats().reconnectAttempt, ms: performance.now() - t0 };
    }, deadPort);
    assert.match(r.outcome, /gave up after 3 reconnection attempts/);
    assert.equal(r.states.at(-1), 'failed');
    assert.equal(r.attempts, 3);
    assert.ok(r.ms < 5000);
});
