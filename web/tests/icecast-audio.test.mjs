// Icecast-style listening in a plain <audio> element of a real Chromium against a real ondes:
// `/{id}.mp3` (MP3) and `/{id}.flac` (Ogg FLAC, the lossless rung) as the element's `src`,
// through a MediaElementAudioSourceNode and a channel splitter into two AnalyserNodes that
// must show the demo signal: the A-major chord (220, 277, 330 Hz) on the right channel, the
// 220 → 1760 Hz sweep on the left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startOndes, launchBrowser, watchConsole } from './helpers.mjs';

let ondes;
let browser;

before(async () => {
    // no config: the demo stream `main` (48 kHz stereo, sweep left, chord right)
    ondes = await startOndes();
    browser = await launchBrowser();
});

after(async () => {
    await browser?.close();
    await ondes?.stop();
});

/** Plays `src` in an <audio> element for 4.5 s; returns each channel's loudest frequencies
 * (from the loudest of six snapshots) and when snapshots were silent. */
async function playElement(page, src) {
    await page.goto(`${ondes.url}/player.html`);
    return page.evaluate(async (src) => {
        const audio = document.createElement('audio');
        document.body.appendChild(audio);
        const errors = [];
        audio.addEventListener('error', () => errors.push(audio.error?.message || `code ${audio.error?.code}`));
        const ctx = new AudioContext();
        await ctx.resume();
        const split = ctx.createChannelSplitter(2);
        const left = ctx.createAnalyser();
        const right = ctx.createAnalyser();
        for (const an of [left, right]) an.fftSize = 16384;
        ctx.createMediaElementSource(audio).connect(split);
        split.connect(left, 0);
        split.connect(right, 1);
        audio.src = src;
        let played = true;
        await audio.play().catch((e) => {
            played = false;
            errors.push(String(e));
        });
        /** The loudest bins, merged into peaks (frequency, dB), strongest first. */
        const peaks = (an) => {
            const bins = new Float32Array(an.frequencyBinCount);
            an.getFloatFrequencyData(bins);
            const out = [];
            for (let i = 2; i < bins.length - 1; i++) {
                if (bins[i] > bins[i - 1] && bins[i] >= bins[i + 1] && bins[i] > -70) {
                    out.push({ hz: (i * ctx.sampleRate) / an.fftSize, db: bins[i] });
                }
            }
            return out.sort((a, b) => b.db - a.db).slice(0, 6);
        };
        // a snapshot every half second from 1.5 s on: the element's output reaches the graph
        // after its first buffering, which a busy machine can delay past any one moment
        await new Promise((r) => setTimeout(r, 1500));
        const snapshots = [];
        for (let i = 0; i < 6; i++) {
            snapshots.push({ t: audio.currentTime, left: peaks(left), right: peaks(right) });
            await new Promise((r) => setTimeout(r, 500));
        }
        const loudness = (sn) => (sn.left[0]?.db ?? -200) + (sn.right[0]?.db ?? -200);
        const best = snapshots.reduce((a, b) => (loudness(b) > loudness(a) ? b : a));
        return {
            played,
            errors,
            time: audio.currentTime,
            left: best.left,
            right: best.right,
            silentSnapshots: snapshots.filter((sn) => sn.left.length === 0 && sn.right.length === 0).map((sn) => sn.t),
            canPlay: audio.canPlayType(audio.src.endsWith('.flac') ? 'audio/ogg; codecs=flac' : 'audio/mpeg'),
        };
    }, src);
}

/** Asserts the analysers show the demo signal. */
function assertDemo(r, what) {
    const info = JSON.stringify(r);
    assert.ok(r.played && r.errors.length === 0, `${what} plays in <audio>: ${info}`);
    assert.ok(r.time > 2, `${what}: the element's clock advanced: ${info}`);
    const near = (peaks, hz) => peaks.some((p) => Math.abs(p.hz - hz) < 12);
    const chord = [220, 277.18, 329.63];
    for (const hz of chord) assert.ok(near(r.right, hz), `${what}: the right channel has the chord's ${hz} Hz: ${info}`);
    const sweep = r.left[0];
    assert.ok(sweep && sweep.hz > 200 && sweep.hz < 1800, `${what}: the left channel has the sweep: ${info}`);
}

test('MP3 (/main.mp3) plays in an <audio> element and shows the demo signal', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    const r = await playElement(page, `${ondes.url}/main.mp3`);
    assertDemo(r, 'MP3');
    assert.deepEqual(errors, []);
});

test('Ogg FLAC (/main.flac) plays in an <audio> element and shows the demo signal', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    const r = await playElement(page, `${ondes.url}/main.flac`);
    assertDemo(r, 'Ogg FLAC');
    assert.deepEqual(errors, []);
});
