// LL-HLS and DASH in a real Chromium against a real ondes: hls.js plays the LL-HLS stream
// of a 440 Hz tone (Opus in fMP4 through MSE), in low-latency mode, and its lossless variant
// (FLAC in fMP4), and dash.js plays the DASH manifest over the same segments; an
// AnalyserNode on the <audio> element shows the tone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startOndes, launchBrowser, watchConsole } from './helpers.mjs';

const require = createRequire(import.meta.url);
const HLS_JS = require.resolve('hls.js/dist/hls.min.js');
const DASH_JS = require.resolve('dashjs'); // the UMD build, dash.all.min.js

let ondes;
let browser;

before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ondes-hls-'));
    const config = path.join(dir, 'ondes.toml');
    fs.writeFileSync(
        config,
        `[[stream]]\nid = "tone"\nsource = "tone:sine?freq=440&amp=0.5"\nsample_rate = 48000\nchannels = 1\nrungs = "64"\n`,
    );
    ondes = await startOndes({ args: ['--config', config] });
    browser = await launchBrowser();
});

after(async () => {
    await browser?.close();
    await ondes?.stop();
});

/** Plays `setup` (a function run in the page that attaches a player to `audio`) for 4 s;
 * returns the loudest frequency an AnalyserNode sees, its level and the player's notes. */
async function playInPage(page, setup, script) {
    await page.goto(`${ondes.url}/player.html`);
    await page.addScriptTag({ path: script });
    return page.evaluate(async (setupSrc) => {
        const w = /** @type {any} */ (window);
        const audio = document.createElement('audio');
        document.body.appendChild(audio);
        const ctx = new AudioContext();
        await ctx.resume();
        const an = ctx.createAnalyser();
        an.fftSize = 8192;
        ctx.createMediaElementSource(audio).connect(an);
        const notes = await new Function('audio', 'w', `return (${setupSrc})(audio, w)`)(audio, w);
        await audio.play();
        await new Promise((r) => setTimeout(r, 4000));
        const bins = new Float32Array(an.frequencyBinCount);
        an.getFloatFrequencyData(bins);
        let peak = 1;
        for (let i = 1; i < bins.length; i++) if (bins[i] > bins[peak]) peak = i;
        return {
            peakHz: (peak * ctx.sampleRate) / an.fftSize,
            peakDb: bins[peak],
            time: audio.currentTime,
            notes: { ...notes, ...(w.notes ?? {}) },
            mse: MediaSource.isTypeSupported('audio/mp4; codecs="opus"'),
            mseFlac: MediaSource.isTypeSupported('audio/mp4; codecs="flac"'),
            // seconds behind the live edge, as the player reports it
            latency: w.hls?.latency ?? w.player?.getCurrentLiveLatency?.() ?? null,
        };
    }, setup.toString());
}

test('hls.js plays the LL-HLS stream in low-latency mode', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    const r = await playInPage(
        page,
        async (audio, w) => {
            const hls = new w.Hls({ lowLatencyMode: true });
            w.notes = { errors: [] };
            hls.on(w.Hls.Events.ERROR, (_, d) => d.fatal && w.notes.errors.push(d.details));
            hls.on(w.Hls.Events.LEVEL_LOADED, (_, d) => {
                w.notes.lowLatency = hls.lowLatencyMode && d.details.partList !== null && d.details.canBlockReload;
                w.notes.partTarget = d.details.partTarget;
            });
            hls.loadSource('/api/streams/tone/hls/index.m3u8');
            hls.attachMedia(audio);
            await new Promise((r) => hls.on(w.Hls.Events.MANIFEST_PARSED, r));
            w.hls = hls;
            return {};
        },
        HLS_JS,
    );
    console.log(`hls.js: ${JSON.stringify(r)}`);
    assert.ok(r.mse, 'Chromium plays Opus in fMP4 through MSE');
    assert.deepEqual(r.notes.errors, [], JSON.stringify(r));
    assert.equal(r.notes.lowLatency, true, `hls.js is in low-latency mode: ${JSON.stringify(r)}`);
    assert.equal(r.notes.partTarget, 0.2);
    assert.ok(r.time > 1, `the audio element played: ${JSON.stringify(r)}`);
    assert.ok(Math.abs(r.peakHz - 440) < 10, `the strongest frequency is the 440 Hz tone: ${JSON.stringify(r)}`);
    assert.ok(r.peakDb > -40, `the tone is loud: ${JSON.stringify(r)}`);
    assert.deepEqual(errors, []);
});

test('hls.js plays the lossless variant (FLAC in fMP4)', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    const r = await playInPage(
        page,
        async (audio, w) => {
            const hls = new w.Hls({ lowLatencyMode: true });
            w.notes = { errors: [] };
            hls.on(w.Hls.Events.ERROR, (_, d) => d.fatal && w.notes.errors.push(d.details));
            hls.on(w.Hls.Events.MANIFEST_PARSED, (_, d) => {
                w.notes.codecs = d.levels.map((l) => l.audioCodec ?? l.codecs ?? null);
            });
            hls.on(w.Hls.Events.LEVEL_SWITCHED, (_, d) => {
                w.notes.level = hls.levels[d.level]?.audioCodec ?? null;
            });
            hls.loadSource('/api/streams/tone/hls/index.m3u8');
            hls.attachMedia(audio);
            await new Promise((r) => hls.on(w.Hls.Events.MANIFEST_PARSED, r));
            // the lossless variant is the last one of the multivariant playlist
            const flac = hls.levels.findIndex((l) => /flac/i.test(l.audioCodec ?? l.attrs?.CODECS ?? ''));
            w.notes.flacLevel = flac;
            // pinned for the next part, without the buffer flush of `currentLevel`
            hls.loadLevel = flac;
            w.hls = hls;
            return {};
        },
        HLS_JS,
    );
    console.log(`hls.js lossless: ${JSON.stringify(r)}`);
    assert.ok(r.mseFlac, 'Chromium plays FLAC in fMP4 through MSE');
    assert.ok(r.notes.flacLevel >= 0, `the multivariant playlist has a FLAC level: ${JSON.stringify(r)}`);
    assert.deepEqual(r.notes.errors, [], JSON.stringify(r));
    assert.match(String(r.notes.level), /flac/i, `hls.js plays the FLAC level: ${JSON.stringify(r)}`);
    assert.ok(r.time > 1, `the audio element played: ${JSON.stringify(r)}`);
    assert.ok(Math.abs(r.peakHz - 440) < 10, `the strongest frequency is the 440 Hz tone: ${JSON.stringify(r)}`);
    assert.ok(r.peakDb > -40, `the tone is loud: ${JSON.stringify(r)}`);
    assert.deepEqual(errors, []);
});

test('dash.js plays the DASH manifest over the same segments', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    const r = await playInPage(
        page,
        async (audio, w) => {
            const p = w.dashjs.MediaPlayer().create();
            w.notes = { errors: [] };
            p.on(w.dashjs.MediaPlayer.events.ERROR, (e) => w.notes.errors.push(String(e.error?.message ?? e.error)));
            p.initialize(audio, '/api/streams/tone/dash/manifest.mpd', true);
            w.player = p;
            return {};
        },
        DASH_JS,
    );
    console.log(`dash.js: ${JSON.stringify(r)}`);
    assert.deepEqual(r.notes.errors, [], JSON.stringify(r));
    assert.ok(r.time > 1, `the audio element played: ${JSON.stringify(r)}`);
    assert.ok(Math.abs(r.peakHz - 440) < 10, `the strongest frequency is the 440 Hz tone: ${JSON.stringify(r)}`);
    assert.ok(r.peakDb > -40, `the tone is loud: ${JSON.stringify(r)}`);
    assert.deepEqual(errors, []);
});
