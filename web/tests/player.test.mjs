// The Player in a real Chromium: SSE pcm16 → AudioWorklet with the adaptive jitter buffer →
// the (headless, fake) audio output, measured through an AnalyserNode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

test('the Player plays the demo stream for 10 s: audible output, no underruns after start', async (t) => {
    const { page } = browser;
    const errors = watchConsole(page);
    // a blank page on the server's origin (the player's modules are served by ondes)
    await page.route(`${ondes.url}/__player_test.html`, (route) =>
        route.fulfill({ contentType: 'text/html', body: '<!doctype html><link rel="icon" href="data:,"><title>player test</title>' }),
    );
    await page.goto(`${ondes.url}/__player_test.html`);
    await page.evaluate(async () => {
        const { Player } = await import('/player.js');
        const w = /** @type {any} */ (window);
        const p = new Player(''); // asks /api/streams for the rate and frame duration
        w.player = p;
        w.samples = [];
        await p.start();
        const t0 = performance.now();
        w.timer = setInterval(() => {
            w.samples.push({ t: performance.now() - t0, rms: p.outputRms(), ...p.getStats() });
        }, 250);
    });
    await sleep(10_500);
    const samples = await page.evaluate(async () => {
        const w = /** @type {any} */ (window);
        clearInterval(w.timer);
        const s = w.samples;
        await w.player.stop();
        return s;
    });
    // on failure, the whole trace helps: print it compactly
    const trace = samples
        .map((s) => `${(s.t / 1000).toFixed(2)}s ${s.state} buf=${s.bufferMs.toFixed(0)} tgt=${s.targetMs.toFixed(0)} und=${s.underruns} conc=${s.concealedMs.toFixed(0)} rms=${s.rms.toFixed(2)}`)
        .join('\n');
    t.diagnostic(trace);
    const start = samples.findIndex((s) => s.state === 'playing');
    assert.ok(start >= 0 && samples[start].t < 2000, `playing within 2 s (first playing sample at index ${start})`);
    const playing = samples.slice(start);
    assert.ok(playing.length >= 30, `${playing.length} samples while playing`);
    const atStart = playing[0];
    const last = playing[playing.length - 1];
    const summary = `buffer ${last.bufferMs.toFixed(1)} ms, target ${last.targetMs.toFixed(1)} ms, latency ${last.latencyMs?.toFixed(1)} ms, jitter ${last.jitterMs.toFixed(1)} ms`;
    console.log(`# player after 10 s: ${summary}, frames ${last.framesReceived}, sample rate ${last.sampleRate}`);

    // audible: the analyser after the worklet sees the demo's level (about −10 dBFS RMS)
    const quiet = playing.filter((s) => !(s.rms > 0.01));
    assert.ok(quiet.length <= 1, `output RMS > 0.01 while playing (quiet samples: ${JSON.stringify(quiet.map((s) => s.rms))})`);
    const meanRms = playing.reduce((a, s) => a + s.rms, 0) / playing.length;
    assert.ok(meanRms > 0.1 && meanRms < 0.7, `mean output RMS ${meanRms.toFixed(3)}`);

    // no underruns (and nothing concealed) after playback started
    assert.equal(last.underruns - atStart.underruns, 0, `underruns after start (${summary})`);
    assert.equal(last.concealedMs, 0);
    for (const s of playing) assert.equal(s.state, 'playing', `stayed playing (saw ${s.state} at ${s.t.toFixed(0)} ms)`);
    assert.equal(last.framesMissing, 0);
    assert.ok(last.framesReceived >= 400, `frames received: ${last.framesReceived}`);
    assert.equal(last.sampleRate, 48000);
    assert.equal(last.source, 'sse-pcm16');
    // the numbers the dashboard shows are sane
    assert.ok(last.bufferMs >= 0 && last.bufferMs < 300, `buffer ${last.bufferMs}`);
    assert.ok(last.targetMs >= 20 && last.targetMs < 300, `target ${last.targetMs}`);
    assert.ok(typeof last.latencyMs === 'number' && last.latencyMs > 0 && last.latencyMs < 500, `latency ${last.latencyMs}`);
    assert.deepEqual(errors, []);
});

test('the dashboard Listen button plays and shows the player stats', async () => {
    const { page } = browser;
    await page.goto(`${ondes.url}/`);
    await page.click('#listen-btn');
    assert.equal(await page.getAttribute('#listen-btn', 'aria-pressed'), 'true');
    await page.waitForFunction(() => /playing/.test(document.getElementById('ps-state')?.textContent ?? ''), null, { timeout: 5000 });
    await page.waitForFunction(() => /\d+ ms/.test(document.getElementById('ps-latency')?.textContent ?? ''), null, { timeout: 5000 });
    assert.match((await page.textContent('#ps-buffer')) ?? '', /\d+(\.\d)? ms/);
    const rms = await page.evaluate(() => /** @type {any} */ (window).ondes.player.outputRms());
    assert.ok(rms > 0.01, `output RMS ${rms}`);
    await page.click('#listen-btn');
    assert.equal(await page.getAttribute('#listen-btn', 'aria-pressed'), 'false');
    assert.equal(await page.textContent('#ps-state'), 'stopped');
});
