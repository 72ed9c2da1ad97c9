// The acoustic glass-to-glass measurement works through the standard browser media paths:
// ondes plays its `marker` source, and the detector worklet of web/bench/marker-latency.mjs
// finds the bursts through WHEP (RTCPeerConnection → MediaStreamAudioSourceNode) and through
// hls.js in low-latency mode (<audio> → MediaElementAudioSourceNode), one per second, with
// a plausible latency on loopback. This checks the measuring path, not a performance target
// (web/bench/g2g-transports.mjs measures that).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { watchConsole } from './helpers.mjs';
import { startMarkerServer, launchMarkerBrowser, measureTransport } from '../bench/marker-latency.mjs';

let ondes;
let browser;

before(async () => {
    ondes = await startMarkerServer();
    browser = await launchMarkerBrowser();
});

after(async () => {
    await browser?.close();
    await ondes?.stop();
});

/** Asserts about one transport's measurement: bursts found about once a second, latencies
 * in (0, maxMs), each burst loud (the marker's −6 dBFS, not noise over the threshold). */
function checkMeasurement(r, seconds, maxMs) {
    const g = r.glass_to_glass_ms;
    assert.deepEqual(r.player_errors, [], JSON.stringify(r));
    assert.ok(g.n >= seconds - 3 && g.n <= seconds + 1, `about one burst a second: ${JSON.stringify(r)}`);
    assert.ok(r.latencies_ms.every((x) => x > 0 && x < maxMs), `latencies in (0, ${maxMs}) ms: ${JSON.stringify(r)}`);
    assert.ok(r.peaks.every((p) => p > 0.25 && p < 0.8), `bursts near −6 dBFS: ${JSON.stringify(r)}`);
    assert.ok(r.tone_mismatches <= 1, `the bursts' tones tell their seconds: ${JSON.stringify(r)}`);
}

test('the marker bursts are found through WHEP, under 500 ms after they entered ondes', async () => {
    const errors = watchConsole(browser.page);
    const r = await measureTransport(browser.page, ondes.url, 'whep', { seconds: 6, warmupS: 2 });
    console.log(`whep: ${JSON.stringify(r.glass_to_glass_ms)} ${JSON.stringify(r.latencies_ms)}`);
    checkMeasurement(r, 6, 500);
    assert.deepEqual(errors, []);
});

test('the marker bursts are found through hls.js (low-latency mode), under 5 s after they entered ondes', async () => {
    const errors = watchConsole(browser.page);
    const r = await measureTransport(browser.page, ondes.url, 'hls', { seconds: 6, warmupS: 3, hlsConfig: { lowLatencyMode: true } });
    console.log(`hls.js: ${JSON.stringify(r.glass_to_glass_ms)} ${JSON.stringify(r.latencies_ms)} player: ${JSON.stringify(r.player_live_latency_ms)}`);
    checkMeasurement(r, 6, 5000);
    assert.ok(r.player_live_latency_ms && r.player_live_latency_ms.n > 0, `hls.js reports its live latency: ${JSON.stringify(r)}`);
    // the bursts are attributed to the right second: hls.js's own figure (from the playlist's
    // program date-times) is in the same range
    const d = Math.abs(r.glass_to_glass_ms.p50 - r.player_live_latency_ms.p50);
    assert.ok(d < 1000, `acoustic and hls.js latency agree within 1 s: ${JSON.stringify(r)}`);
    assert.deepEqual(errors, []);
});
