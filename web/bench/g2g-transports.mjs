#!/usr/bin/env node
// Glass-to-glass latency in Chromium for every way of listening, measured acoustically and
// the same way for each (a benchmark, not a test).
//
//   node web/bench/g2g-transports.mjs [--transport ws|whep|hls|dash|all] [--duration 25]
//        [--warmup 3] [--frame-ms 20] [--part-ms 200] [--segment-ms 1000] [--hlsjs JSON] [--dashjs JSON]
//        [--json]
//
// ondes plays its `marker` source (silence with a 10 ms burst starting exactly at every
// whole second of wall time, the tone cycling through 1, 1.5, 2, 2.5 kHz so a burst up to
// 4 s late is still attributed to its second). The page plays the stream with
//
//   ws    the ondes Player (WebSocket Opus, batch=1), its worklet's output
//   whep  RTCPeerConnection (WHEP) → MediaStreamAudioSourceNode
//   hls   hls.js in low-latency mode on an <audio> element → MediaElementAudioSourceNode
//   dash  dash.js in low-latency mode on an <audio> element → MediaElementAudioSourceNode
//
// into an AudioWorklet that finds each burst's onset and takes its wall time (the wall
// clock when the render quantum holding it is processed + the sample's offset in it); the
// onset minus the second the burst started at is the glass-to-glass latency to the
// worklet. Server and browser share the machine's wall clock (loopback). Per transport:
// n, p50/p95/max after `--warmup` seconds, the player's own live-latency figure (hls.js
// `latency`, dash.js `getCurrentLiveLatency()`), for WS also the header-based figure of
// glass-to-glass.mjs, and the 1-minute load average before and after. `all` runs the four
// one after another against one server.
//
// Environment: ONDES_BIN (default target/debug/ondes), CHROMIUM_PATH (default /usr/bin/chromium).
import { watchConsole, ONDES_BIN } from '../tests/helpers.mjs';
import { TRANSPORTS, MARKER, startMarkerServer, launchMarkerBrowser, measureTransport } from './marker-latency.mjs';

const args = process.argv.slice(2);
const opt = (/** @type {string} */ name, /** @type {string|undefined} */ dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
};
const TRANSPORT = opt('transport', 'all') ?? 'all';
const DURATION_S = Number(opt('duration', '25'));
const WARMUP_S = Number(opt('warmup', '3'));
const PART_MS = Number(opt('part-ms', '200'));
const SEGMENT_MS = Number(opt('segment-ms', '1000'));
const FRAME_MS = Number(opt('frame-ms', '20'));
const JSON_ONLY = args.includes('--json');
const log = (/** @type {string} */ s) => {
    if (!JSON_ONLY) console.error(s);
};
if (TRANSPORT !== 'all' && !TRANSPORTS.includes(TRANSPORT)) {
    console.error(`--transport must be one of ${TRANSPORTS.join(', ')} or all, not ${TRANSPORT}`);
    process.exit(2);
}

// the knobs: hls.js in low-latency mode, dash.js with its low-latency catch-up, each with
// its defaults otherwise (so the live sync point is the playlist's PART-HOLD-BACK and the
// manifest's ServiceDescription target); --hlsjs and --dashjs merge JSON into them, e.g.
// --hlsjs '{"liveSyncDuration":0.4,"maxLiveSyncPlaybackRate":1.5}'
// --dashjs '{"streaming":{"delay":{"liveDelay":1}}}'
/** @type {Record<string, unknown>} */
const hlsConfig = { lowLatencyMode: true, ...JSON.parse(opt('hlsjs', '{}') ?? '{}') };
/** Deep merge of plain objects (dash.js settings nest). */
const merge = (/** @type {any} */ a, /** @type {any} */ b) => {
    for (const [k, v] of Object.entries(b)) a[k] = v && typeof v === 'object' && !Array.isArray(v) ? merge(a[k] ?? {}, v) : v;
    return a;
};
const dashSettings = merge({ streaming: { liveCatchup: { enabled: true, mode: 'liveCatchupModeLoLP' } } }, JSON.parse(opt('dashjs', '{}') ?? '{}'));

const ondes = await startMarkerServer({ partMs: PART_MS, segmentMs: SEGMENT_MS, frameMs: FRAME_MS });
const browser = await launchMarkerBrowser();
const errors = watchConsole(browser.page);
/** @type {any[]} */
const results = [];
try {
    for (const t of TRANSPORT === 'all' ? TRANSPORTS : [TRANSPORT]) {
        log(`# ${t}: ${WARMUP_S} s warm-up + ${DURATION_S} s…`);
        results.push(await measureTransport(browser.page, ondes.url, t, { seconds: DURATION_S, warmupS: WARMUP_S, hlsConfig, dashSettings }));
    }
} finally {
    await browser.close();
    await ondes.stop();
}

const by = (/** @type {string} */ t) => results.find((r) => r.transport === t);
const p50 = (/** @type {string} */ t) => by(t)?.glass_to_glass_ms.p50 ?? NaN;
/** @type {Record<string, {target: string, met: boolean|null}>} */
const targets = {};
if (by('whep') && by('ws')) targets.whep = { target: `p50 ≤ WS p50 (${p50('ws')} ms)`, met: p50('whep') <= p50('ws') };
if (by('hls')) targets.hls = { target: 'p50 ≤ 800 ms', met: p50('hls') <= 800 };
if (by('dash')) targets.dash = { target: 'p50 ≤ 1500 ms', met: p50('dash') <= 1500 };

const f = (/** @type {any} */ s) => (s ? `${s.p50} / ${s.p95} / ${s.max}` : '–');
if (!JSON_ONLY) {
    console.log(`\nacoustic glass-to-glass latency (marker onset → detector worklet), ondes ${ONDES_BIN}, ${results[0]?.user_agent}\n`);
    console.log('| transport | n | p50 / p95 / max (ms) | player live latency p50 / p95 / max (ms) | player target (ms) | element currentTime → wall p50 (ms) | header-based capture→output p50 / p95 / max (ms) | browser output latency (ms) | load avg before → after |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const r of results) {
        console.log(
            `| ${r.transport} | ${r.glass_to_glass_ms.n} | **${f(r.glass_to_glass_ms)}** | ${f(r.player_live_latency_ms)} | ${r.player_target_latency_ms ?? '–'} | ${r.element_media_latency_ms?.p50 ?? '–'} | ${f(r.header_capture_to_output_ms)} | ${r.browser_output_latency_ms} | ${r.load_average_1m.before} → ${r.load_average_1m.after} |`,
        );
    }
    for (const [t, v] of Object.entries(targets)) console.log(`target ${t}: ${v.target}: ${v.met ? 'met' : 'NOT met'} (${p50(t)} ms)`);
    console.log('');
}
console.log(
    JSON.stringify(
        {
            bench: 'g2g-transports',
            binary: ONDES_BIN,
            duration_s: DURATION_S,
            marker: MARKER,
            knobs: { frame_ms: FRAME_MS, hls_part_ms: PART_MS, hls_segment_ms: SEGMENT_MS, hlsjs: hlsConfig, dashjs: dashSettings },
            targets,
            console_errors: errors,
            results,
        },
        null,
        JSON_ONLY ? 0 : 2,
    ),
);
