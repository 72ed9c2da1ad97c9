// Acoustic glass-to-glass latency, the same for every transport: ondes plays its `marker`
// source (silence with a burst starting exactly at every whole second of wall time), the
// page routes whatever a transport plays into an AudioWorklet that finds the bursts'
// onsets (marker-detector-worklet.js), and an onset's wall time minus the second its burst
// started at is the latency from the sound entering ondes to it leaving the worklet.
//
// Shared by web/bench/g2g-transports.mjs (the bench) and web/tests/g2g-marker.test.mjs (the
// check that the measuring path works). Server and browser start through tests/helpers.mjs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startOndes, launchBrowser, sleep } from '../tests/helpers.mjs';
import { summary } from './stats.mjs';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const DETECTOR_SRC = fs.readFileSync(path.join(HERE, 'marker-detector-worklet.js'), 'utf8');
export const HLS_JS = require.resolve('hls.js/dist/hls.min.js');
export const DASH_JS = require.resolve('dashjs'); // the UMD build, dash.all.min.js

export const TRANSPORTS = ['ws', 'whep', 'hls', 'dash'];

/** The marker the server plays: a 10 ms burst every second, cycling through 4 tones
 * (1, 1.5, 2, 2.5 kHz) so that a burst up to 4 s late is still attributed to its second. */
export const MARKER = { periodMs: 1000, burstMs: 10, freq: 1000, steps: 4, amp: 0.5 };

/**
 * Starts `ondes serve` with one stream `main` fed by the marker (48 kHz stereo, 20 ms
 * frames unless told otherwise, Opus 64 kbit/s), WebRTC on loopback, and the given `[hls]`
 * part and segment durations.
 * `rtcPort` fixes the WebRTC UDP port (default: any free one), `red` turns RED off,
 * `redDistances` sets its levels (`[webrtc] red_distances`, default the server's), `rungs`
 * sets the Opus ladder (default 64 kbit/s only).
 * @param {{partMs?: number, segmentMs?: number, frameMs?: number, rtcPort?: number, red?: boolean, redDistances?: number[], rungs?: string}} [hls]
 */
export async function startMarkerServer(hls = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ondes-g2g-'));
    const config = path.join(dir, 'ondes.toml');
    const m = MARKER;
    const source = `marker?period_ms=${m.periodMs}&burst_ms=${m.burstMs}&freq=${m.freq}&steps=${m.steps}&amp=${m.amp}`;
    fs.writeFileSync(
        config,
        `[webrtc]\nudp_port = ${hls.rtcPort ?? 0}\nips = ["127.0.0.1"]\nred = ${hls.red ?? true}\n` +
            (hls.redDistances ? `red_distances = [${hls.redDistances.join(', ')}]\n` : '') +
            `[hls]\npart_ms = ${hls.partMs ?? 200}\nsegment_ms = ${hls.segmentMs ?? 1000}\n` +
            `[[stream]]\nid = "main"\nsource = "${source}"\nsample_rate = 48000\nchannels = 2\nframe_ms = ${hls.frameMs ?? 20}\nrungs = "${hls.rungs ?? '64'}"\n`,
    );
    const ondes = await startOndes({ args: ['--config', config] });
    return {
        ...ondes,
        async stop() {
            await ondes.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

/** Chromium with loopback WebRTC allowed (ondes advertises 127.0.0.1 only). */
export function launchMarkerBrowser() {
    return launchBrowser({ args: ['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'] });
}

/**
 * Records the page's HLS and DASH requests as the browser makes them (start, end, status,
 * ms from now; the first 120): which request a stalled start waited for.
 * @param {import('playwright-core').Page} page
 */
function recordSegmentRequests(page) {
    /** @type {{url: string, startMs: number, endMs?: number, status?: number, failed?: string}[]} */
    const list = [];
    const origin = Date.now();
    const seen = new Map();
    const onRequest = (/** @type {any} */ r) => {
        if (list.length >= 120 || !/\/(hls|dash)\//.test(r.url())) return;
        const e = { url: r.url().replace(/^.*\/(hls|dash)\//, ''), startMs: Date.now() - origin };
        list.push(e);
        seen.set(r, e);
    };
    const onDone = async (/** @type {any} */ r) => {
        const e = seen.get(r);
        if (!e) return;
        e.endMs = Date.now() - origin;
        e.status = (await r.response().catch(() => null))?.status();
    };
    const onFailed = (/** @type {any} */ r) => {
        const e = seen.get(r);
        if (e) Object.assign(e, { endMs: Date.now() - origin, failed: r.failure()?.errorText });
    };
    page.on('request', onRequest);
    page.on('requestfinished', onDone);
    page.on('requestfailed', onFailed);
    return {
        list,
        stop() {
            page.off('request', onRequest);
            page.off('requestfinished', onDone);
            page.off('requestfailed', onFailed);
        },
    };
}

/**
 * Runs in the page: starts `transport`, routes its audio into the detector, and keeps the
 * onsets (and, for HLS and DASH, the player's own live-latency figure) on `window.g2g`.
 * @param {{transport: string, detectorSrc: string, burstMs: number, hlsConfig: object, dashSettings: object, warmupMs: number, whepRung: string, candidatePort: {from: number, to: number}|null}} a
 */
async function pageStart(a) {
    const w = /** @type {any} */ (window);
    const g = { onsets: [], playerLatency: [], mediaTimes: [], errors: [], timeline: [], stop: async () => {}, ctx: null, started: performance.timeOrigin + performance.now() };
    w.g2g = g;
    /** Adds the detector to `ctx` and returns it (connected to the destination so it is pulled). */
    const detector = async (/** @type {AudioContext} */ ctx) => {
        const url = URL.createObjectURL(new Blob([a.detectorSrc], { type: 'application/javascript' }));
        await ctx.audioWorklet.addModule(url);
        const node = new AudioWorkletNode(ctx, 'ondes-marker-detector', { processorOptions: { burstMs: a.burstMs }, numberOfOutputs: 1, outputChannelCount: [1] });
        node.port.onmessage = (e) => g.onsets.push(e.data);
        node.connect(ctx.destination);
        g.ctx = ctx;
        return node;
    };
    /** An <audio> element played through Web Audio into the detector. */
    const elementGraph = async () => {
        const audio = document.createElement('audio');
        document.body.appendChild(audio);
        const ctx = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
        await ctx.resume();
        ctx.createMediaElementSource(audio).connect(await detector(ctx));
        return audio;
    };
    if (a.transport === 'ws') {
        const { Player } = await import('/player.js');
        const p = new Player('', { transport: 'ws-opus', ws: { batch: 1 }, measureLatency: true });
        await p.start();
        p.node.connect(await detector(p.ctx));
        g.player = p;
        g.stop = () => p.stop();
    } else if (a.transport === 'whep') {
        if (a.candidatePort) {
            // through a proxy: the answer's host candidate is pointed at the proxy's port
            const { from, to } = a.candidatePort;
            const set = RTCPeerConnection.prototype.setRemoteDescription;
            RTCPeerConnection.prototype.setRemoteDescription = function (d) {
                const sdp = d?.sdp?.replace(new RegExp(`^(a=candidate:\\S+ \\d+ udp \\d+ \\S+ )${from}( )`, 'gim'), `$1${to}$2`);
                return set.call(this, sdp ? { type: d.type, sdp } : d);
            };
        }
        const { startWhep } = await import('/player-whep.js');
        const s = await startWhep(`/api/streams/main/whep?rung=${a.whepRung}`, { play: false });
        const ctx = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
        await ctx.resume();
        ctx.createMediaStreamSource(s.stream).connect(await detector(ctx));
        g.session = s;
        g.stop = () => s.stop();
        // the receiver's counters at the end of the warm-up, for the measured window's share
        setTimeout(async () => {
            (await s.pc.getStats()).forEach((/** @type {any} */ v) => {
                if (v.type === 'inbound-rtp' && v.kind === 'audio') g.inboundAtWarmup = v;
            });
        }, a.warmupMs);
    } else if (a.transport === 'hls') {
        const audio = await elementGraph();
        const hls = new w.Hls(a.hlsConfig);
        // the start-up timeline (ms from here): playlist and part requests, each part's
        // arrival, and every non-fatal error (a stall moves hls.js's target back for good)
        const t0 = performance.now();
        const rel = (/** @type {number} */ v) => Math.round(v - t0);
        const note = (/** @type {object} */ e) => g.timeline.length < 80 && g.timeline.push(e);
        hls.on(w.Hls.Events.ERROR, (/** @type {any} */ _, /** @type {any} */ d) => {
            if (d.fatal) g.errors.push(`hls.js: ${d.details}`);
            else note({ atMs: rel(performance.now()), event: d.details });
        });
        for (const ev of ['LEVEL_LOADING', 'FRAG_LOADING']) {
            hls.on(w.Hls.Events[ev], (/** @type {any} */ _, /** @type {any} */ d) =>
                note({ atMs: rel(performance.now()), event: ev, url: String(d.url ?? d.part?.url ?? d.frag?.url ?? '').replace(/^.*\/hls\//, '') }));
        }
        hls.on(w.Hls.Events.FRAG_LOADED, (/** @type {any} */ _, /** @type {any} */ d) => {
            const st = (d.part ?? d.frag).stats.loading;
            note({ atMs: rel(st.end), event: 'loaded', sn: d.frag.sn, part: d.part?.index ?? null, requestMs: rel(st.start), firstByteMs: rel(st.first) });
        });
        hls.loadSource('/api/streams/main/hls/index.m3u8');
        hls.attachMedia(audio);
        await new Promise((r) => hls.on(w.Hls.Events.MANIFEST_PARSED, r));
        // the Opus level: the lossless one would change nothing but the bitrate. Pinned with
        // `loadLevel`, not `currentLevel`: that one is an immediate switch which aborts the
        // fragment in flight and flushes the buffer; at start-up the flush can land after
        // the first parts were appended, and hls.js, believing them buffered, waits ~3 s
        // before it seeks over the hole and moves its target back by a second
        const opus = hls.levels.findIndex((/** @type {any} */ l) => /opus/i.test(l.audioCodec ?? l.attrs?.CODECS ?? ''));
        if (opus >= 0) hls.loadLevel = opus;
        await audio.play();
        g.timer = setInterval(() => {
            if (Number.isFinite(hls.latency) && hls.latency > 0) g.playerLatency.push({ latency: hls.latency, target: hls.targetLatency });
            g.mediaTimes.push({ wallMs: performance.timeOrigin + performance.now(), t: audio.currentTime, rate: audio.playbackRate });
        }, 500);
        g.hls = hls;
        g.stop = async () => {
            clearInterval(g.timer);
            hls.destroy();
        };
    } else if (a.transport === 'dash') {
        const audio = await elementGraph();
        const p = w.dashjs.MediaPlayer().create();
        p.updateSettings(a.dashSettings);
        p.on(w.dashjs.MediaPlayer.events.ERROR, (/** @type {any} */ e) => g.errors.push(`dash.js: ${String(e.error?.message ?? e.error)}`));
        p.initialize(audio, '/api/streams/main/dash/manifest.mpd', true);
        g.timer = setInterval(() => {
            const l = p.getCurrentLiveLatency();
            if (Number.isFinite(l) && l > 0) g.playerLatency.push({ latency: l, target: p.getTargetLiveDelay() });
            g.mediaTimes.push({ wallMs: performance.timeOrigin + performance.now(), t: audio.currentTime, rate: audio.playbackRate });
        }, 500);
        g.dash = p;
        g.stop = async () => {
            clearInterval(g.timer);
            p.destroy();
        };
    } else {
        throw new Error(`unknown transport ${a.transport}`);
    }
}

/** Runs in the page: what was measured, then stops the transport. */
async function pageCollect() {
    const g = /** @type {any} */ (window).g2g;
    const ctx = g.ctx;
    // the wall time of media time 0, while the segmenter still runs (it restarts, with a
    // new one, after a while without requests)
    let astMs = null;
    if (g.hls || g.dash) {
        const mpd = await (await fetch('/api/streams/main/dash/manifest.mpd')).text();
        astMs = Date.parse(mpd.match(/availabilityStartTime="([^"]+)"/)?.[1] ?? '');
    }
    const out = {
        onsets: g.onsets,
        playerLatency: g.playerLatency,
        mediaTimes: g.mediaTimes,
        astMs,
        errors: g.errors,
        timeline: g.timeline,
        headerRecords: g.player ? g.player.latencyRecords.map((/** @type {any} */ r) => ({ captureMs: r.captureMs, outputMs: r.outputMs })) : null,
        outputLatencyMs: ctx ? ((ctx.outputLatency || 0) + (ctx.baseLatency || 0)) * 1000 : null,
        sampleRate: ctx?.sampleRate ?? null,
        inbound: null,
        inboundWindow: null,
        userAgent: navigator.userAgent,
    };
    if (g.session) {
        (await g.session.pc.getStats()).forEach((/** @type {any} */ v) => {
            if (v.type === 'inbound-rtp' && v.kind === 'audio') {
                const w0 = g.inboundAtWarmup ?? { concealedSamples: 0, totalSamplesReceived: 0, packetsLost: 0, packetsReceived: 0, fecPacketsReceived: 0 };
                const d = (/** @type {string} */ k) => (v[k] ?? 0) - (w0[k] ?? 0);
                out.inboundWindow = {
                    concealedRatio: d('concealedSamples') / Math.max(1, d('totalSamplesReceived')),
                    lossRatio: d('packetsLost') / Math.max(1, d('packetsLost') + d('packetsReceived')),
                    packetsReceived: d('packetsReceived'),
                    packetsLost: d('packetsLost'),
                    fecPacketsReceived: d('fecPacketsReceived'),
                    concealmentEvents: d('concealmentEvents'),
                };
                out.inbound = { jitterBufferDelayMs: (v.jitterBufferDelay / v.jitterBufferEmittedCount) * 1000, jitterBufferTargetDelayMs: (v.jitterBufferTargetDelay / v.jitterBufferEmittedCount) * 1000, jitterBufferMinimumDelayMs: (v.jitterBufferMinimumDelay / v.jitterBufferEmittedCount) * 1000, jitterMs: v.jitter * 1000, packetsLost: v.packetsLost, concealedSamples: v.concealedSamples, totalSamplesReceived: v.totalSamplesReceived };
            }
        });
    }
    await g.stop();
    if (ctx && ctx.state !== 'closed' && !g.player) await ctx.close();
    return out;
}

/**
 * The burst an onset belongs to: the tone (from its upward zero crossings) tells the step,
 * the step the latest period start at or before the onset with that step.
 * @param {{wallMs: number, ups: number}} o
 */
export function burstStartMs(o, m = MARKER) {
    const freq = (o.ups + 0.5) / (m.burstMs / 1000);
    const step = (((Math.round((freq / m.freq - 1) * 2) % m.steps) + m.steps) % m.steps);
    let k = Math.floor(o.wallMs / m.periodMs);
    while (((k % m.steps) + m.steps) % m.steps !== step) k--;
    return k * m.periodMs;
}

/**
 * Plays `transport` for `warmupS + seconds` and measures the onsets after the warm-up.
 * @param {import('playwright-core').Page} page
 * @param {string} baseUrl
 * @param {string} transport ws | whep | hls | dash
 * @param {{seconds: number, warmupS?: number, hlsConfig?: object, dashSettings?: object, whepRung?: string, candidatePort?: {from: number, to: number}}} o
 */
export async function measureTransport(page, baseUrl, transport, o) {
    const warmupS = o.warmupS ?? 3;
    if (transport === 'hls' || transport === 'dash') {
        // the segmenter starts on the first request (its first segment is short); measure a
        // listener joining a stream that is already segmented, as in production
        await (await fetch(`${baseUrl}/api/streams/main/hls/64/media.m3u8`)).text();
        await sleep(2500);
    }
    const loadBefore = os.loadavg()[0];
    const requests = recordSegmentRequests(page);
    await page.goto(`${baseUrl}/player.html`);
    if (transport === 'hls') await page.addScriptTag({ path: HLS_JS });
    if (transport === 'dash') await page.addScriptTag({ path: DASH_JS });
    const t0 = Date.now();
    await page.evaluate(pageStart, {
        transport,
        detectorSrc: DETECTOR_SRC,
        burstMs: MARKER.burstMs,
        hlsConfig: o.hlsConfig ?? {},
        dashSettings: o.dashSettings ?? {},
        warmupMs: warmupS * 1000,
        whepRung: o.whepRung ?? 'auto',
        candidatePort: o.candidatePort ?? null,
    });
    await sleep((warmupS + o.seconds) * 1000);
    const res = await page.evaluate(pageCollect);
    requests.stop();
    const loadAfter = os.loadavg()[0];
    const from = t0 + warmupS * 1000;
    const onsets = res.onsets.filter((/** @type {any} */ x) => x.wallMs >= from);
    // each burst's tone gives its second; a burst mangled on the way (a catching-up player
    // time-stretches) can read as another tone, so the run's median settles each onset on
    // the second nearest to it, and the disagreements are counted
    const byTone = onsets.map((/** @type {any} */ x) => x.wallMs - burstStartMs(x));
    const median = [...byTone].sort((a, b) => a - b)[Math.floor(byTone.length / 2)] ?? 0;
    const P = MARKER.periodMs;
    const latencies = onsets.map((/** @type {any} */ x) => x.wallMs - Math.round((x.wallMs - median) / P) * P);
    const toneMismatches = latencies.filter((l, i) => Math.abs(l - byTone[i]) > P / 2).length;
    const pl = res.playerLatency.slice(Math.floor(res.playerLatency.length * (warmupS / (warmupS + o.seconds))));
    const r1 = (/** @type {number} */ v) => Math.round(v * 10) / 10;
    return {
        transport,
        seconds: o.seconds,
        warmup_s: warmupS,
        onsets_before_warmup_end: res.onsets.length - onsets.length,
        glass_to_glass_ms: summary(latencies),
        latencies_ms: latencies.map(r1),
        tone_mismatches: toneMismatches,
        peaks: onsets.map((/** @type {any} */ x) => Math.round(x.peak * 100) / 100),
        player_live_latency_ms: pl.length ? summary(pl.map((/** @type {any} */ x) => x.latency * 1000)) : null,
        player_target_latency_ms: pl.length ? r1(pl[pl.length - 1].target * 1000) : null,
        // DASH: how far the element's currentTime is behind the wall time of its media (the
        // manifest's availabilityStartTime + currentTime; hls.js puts media on a timeline of
        // its own): the acoustic figure minus this is what plays out after currentTime
        element_media_latency_ms: res.astMs && transport === 'dash'
            ? summary(res.mediaTimes.filter((/** @type {any} */ x) => x.wallMs >= from).map((/** @type {any} */ x) => x.wallMs - (res.astMs + x.t * 1000)))
            : null,
        playback_rate: res.mediaTimes.length ? summary(res.mediaTimes.filter((/** @type {any} */ x) => x.wallMs >= from).map((/** @type {any} */ x) => x.rate * 1000)) : null,
        header_capture_to_output_ms: res.headerRecords
            ? summary(res.headerRecords.filter((/** @type {any} */ r) => r.outputMs >= from).map((/** @type {any} */ r) => r.outputMs - r.captureMs))
            : null,
        webrtc_inbound: res.inbound,
        webrtc_after_warmup: res.inboundWindow,
        browser_output_latency_ms: res.outputLatencyMs === null ? null : r1(res.outputLatencyMs),
        audio_context_rate: res.sampleRate,
        player_errors: res.errors,
        player_timeline: res.timeline.length ? res.timeline : null,
        http_requests: requests.list.length ? requests.list : null,
        load_average_1m: { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadAfter * 100) / 100 },
        user_agent: res.userAgent,
    };
}
