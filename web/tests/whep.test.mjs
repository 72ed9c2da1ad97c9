// WebRTC in a real Chromium against a real ondes: WHEP listening (player-whep.js) to a
// 440 Hz tone, measured through an AnalyserNode on the received track, with getStats()
// showing packets received and none lost on loopback; and a notice (paused) arriving on
// the data channel. Loopback candidates only: ondes advertises 127.0.0.1 and Chromium runs
// with --allow-loopback-in-peer-connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startOndes, launchBrowser, watchConsole, sleep, mintToken } from './helpers.mjs';

let ondes;
let browser;
const SECRET = 'whep-test-secret';

before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ondes-whep-'));
    const config = path.join(dir, 'ondes.toml');
    fs.writeFileSync(
        config,
        `[auth]\nsecret = "${SECRET}"\n[webrtc]\nudp_port = 0\nips = ["127.0.0.1"]\n` +
            `[[stream]]\nid = "tone"\nsource = "tone:sine?freq=440&amp=0.5"\nsample_rate = 48000\nchannels = 1\n`,
    );
    ondes = await startOndes({ args: ['--config', config] });
    browser = await launchBrowser({
        args: ['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'],
    });
});

after(async () => {
    await browser?.close();
    await ondes?.stop();
});

test('Chromium plays a WHEP stream: the tone in an AnalyserNode, no packet lost, notices on the data channel', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    await page.goto(`${ondes.url}/player.html`);
    const r = await page.evaluate(async () => {
        const w = /** @type {any} */ (window);
        const { startWhep } = await import('/player-whep.js');
        w.notices = [];
        const s = await startWhep('/api/streams/tone/whep', { onNotice: (m) => w.notices.push(m) });
        w.session = s;
        const ctx = new AudioContext();
        await ctx.resume();
        const src = ctx.createMediaStreamSource(s.stream);
        const an = ctx.createAnalyser();
        an.fftSize = 8192;
        src.connect(an);
        await new Promise((r) => setTimeout(r, 3000));
        const bins = new Float32Array(an.frequencyBinCount);
        an.getFloatFrequencyData(bins);
        let peak = 0;
        for (let i = 1; i < bins.length; i++) if (bins[i] > bins[peak]) peak = i;
        let inbound = null;
        (await s.pc.getStats()).forEach((v) => {
            if (v.type === 'inbound-rtp' && v.kind === 'audio') inbound = v;
        });
        return {
            peakHz: (peak * ctx.sampleRate) / an.fftSize,
            peakDb: bins[peak],
            packetsReceived: inbound?.packetsReceived ?? 0,
            packetsLost: inbound?.packetsLost ?? -1,
            location: s.location,
            red: /red\/48000/i.test(s.pc.remoteDescription?.sdp ?? ''),
        };
    });
    assert.ok(Math.abs(r.peakHz - 440) < 10, `the strongest frequency is the 440 Hz tone: ${JSON.stringify(r)}`);
    assert.ok(r.peakDb > -40, `the tone is loud: ${JSON.stringify(r)}`);
    assert.ok(r.packetsReceived >= 100, `packets received: ${JSON.stringify(r)}`);
    assert.equal(r.packetsLost, 0, `no packet lost on loopback: ${JSON.stringify(r)}`);
    assert.ok(r.red, 'Chromium offers RED: the answer sends Opus in RED');

    // a pause reaches the listener on its data channel
    const token = mintToken(SECRET, ['stream_control']);
    const res = await fetch(`${ondes.url}/api/streams/tone/control`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ action: 'pause' }),
    });
    assert.equal(res.status, 200);
    let notices = [];
    for (let i = 0; i < 40 && !notices.some((n) => n.status === 'paused'); i++) {
        await sleep(100);
        notices = await page.evaluate(() => /** @type {any} */ (window).notices);
    }
    assert.ok(notices.some((n) => n.type === 'status' && n.status === 'paused'), JSON.stringify(notices));

    // DELETE ends the session
    await page.evaluate(() => /** @type {any} */ (window).session.stop());
    const del = await fetch(r.location, { method: 'DELETE' });
    assert.equal(del.status, 404, 'the session is gone after stop()');
    assert.deepEqual(errors, []);
});
