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
            `[[stream]]\nid = "tone"\nsource = "tone:sine?freq=440&amp=0.5"\nsample_rate = 48000\nchannels = 1\n` +
            `[[stream]]\nid = "trickle"\nsource = "tone:sine?freq=660&amp=0.5"\nsample_rate = 48000\nchannels = 1\n`,
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

test('a trickle-ICE client (its offer has no candidate; every PATCH gets 405) still connects and hears the stream', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    await page.goto(`${ondes.url}/player.html`);
    const r = await page.evaluate(async () => {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('audio', { direction: 'recvonly' });
        /** @type {RTCIceCandidate[]} */
        const gathered = [];
        pc.onicecandidate = (e) => {
            if (e.candidate) gathered.push(e.candidate);
        };
        const gotTrack = new Promise((resolve) => {
            pc.ontrack = (e) => resolve(e.streams[0] ?? new MediaStream([e.track]));
        });
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        // a trickling client posts its offer at once, before any candidate is gathered
        const body = offer.sdp ?? '';
        const post = await fetch('/api/streams/trickle/whep', {
            method: 'POST',
            headers: { 'Content-Type': 'application/sdp' },
            body,
        });
        const session = new URL(post.headers.get('Location') ?? '', location.href).href;
        await pc.setRemoteDescription({ type: 'answer', sdp: await post.text() });
        // then sends its candidates as they come, as trickle ICE (RFC 8840 fragments) does
        await new Promise((r) => setTimeout(r, 500));
        const ufrag = /a=ice-ufrag:(\S+)/.exec(body)?.[1] ?? '';
        const pwd = /a=ice-pwd:(\S+)/.exec(body)?.[1] ?? '';
        const patches = [];
        for (const c of gathered) {
            const frag = `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:${c.sdpMid}\r\na=${c.candidate}\r\n`;
            const p = await fetch(session, {
                method: 'PATCH',
                headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' },
                body: frag,
            });
            patches.push({ status: p.status, allow: p.headers.get('Allow'), error: (await p.json()).error });
        }
        const stream = /** @type {MediaStream} */ (await gotTrack);
        const audio = new Audio();
        audio.srcObject = stream;
        await audio.play().catch(() => {});
        const ctx = new AudioContext();
        await ctx.resume();
        const an = ctx.createAnalyser();
        an.fftSize = 8192;
        ctx.createMediaStreamSource(stream).connect(an);
        await new Promise((r) => setTimeout(r, 2500));
        const bins = new Float32Array(an.frequencyBinCount);
        an.getFloatFrequencyData(bins);
        let peak = 0;
        for (let i = 1; i < bins.length; i++) if (bins[i] > bins[peak]) peak = i;
        let packetsReceived = 0;
        (await pc.getStats()).forEach((v) => {
            if (v.type === 'inbound-rtp' && v.kind === 'audio') packetsReceived = v.packetsReceived;
        });
        const result = {
            postStatus: post.status,
            offerHadCandidates: /a=candidate/.test(body),
            gathered: gathered.length,
            patches,
            connectionState: pc.connectionState,
            peakHz: (peak * ctx.sampleRate) / an.fftSize,
            peakDb: bins[peak],
            packetsReceived,
        };
        audio.srcObject = null;
        pc.close();
        await fetch(session, { method: 'DELETE' });
        return result;
    });
    const info = JSON.stringify(r);
    assert.equal(r.postStatus, 201, info);
    assert.equal(r.offerHadCandidates, false, `the offer went out before gathering: ${info}`);
    assert.ok(r.gathered > 0 && r.patches.length === r.gathered, `every candidate was trickled: ${info}`);
    for (const p of r.patches) {
        assert.deepEqual(p, { status: 405, allow: 'DELETE', error: 'trickle_not_supported' }, info);
    }
    assert.equal(r.connectionState, 'connected', info);
    assert.ok(r.packetsReceived >= 50, `packets received: ${info}`);
    assert.ok(Math.abs(r.peakHz - 660) < 10, `the strongest frequency is the 660 Hz tone: ${info}`);
    assert.ok(r.peakDb > -40, `the tone is loud: ${info}`);
    // the browser logs each refused PATCH; nothing else may go wrong
    assert.deepEqual(
        errors.filter((e) => !/status of 405/.test(e.text ?? '')),
        [],
    );
});
