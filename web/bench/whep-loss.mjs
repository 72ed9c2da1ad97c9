#!/usr/bin/env node
// WHEP in Chromium through a lossy link: how much of the audio NetEQ conceals, with and
// without RED and Opus in-band FEC (a benchmark, not a test).
//
//   node web/bench/whep-loss.mjs [--loss 20] [--duration 20] [--red-distances '1;1,2'] [--rungs 64,32] [--json]
//
// For each case — the 64 kbit/s rung (no in-band FEC) and the 32 kbit/s rung (in-band FEC,
// expected loss 5 %), each with RED at every `--red-distances` pattern (`;` between
// patterns, each a `[webrtc] red_distances` list; default `1,2`, the server's default) and
// with `red = false` — it starts ondes
// with the marker source on a fixed WebRTC UDP port and `ondes netsim --udp` in front of
// that port (3 s lossless for ICE, DTLS and the data channel, then `--loss` % independent
// loss each way, 5 ms delay). The page's WHEP answer has its host candidate's port
// rewritten to the proxy's, so Chromium's media goes through it. After a 5 s warm-up it
// reports, over `--duration` s, the receiver's `getStats()`: concealed samples over samples
// received, packets lost, FEC packets received; and the marker's glass-to-glass latency.
//
// Environment: ONDES_BIN (default target/debug/ondes), CHROMIUM_PATH (default /usr/bin/chromium).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ONDES_BIN } from '../tests/helpers.mjs';
import { startMarkerServer, launchMarkerBrowser, measureTransport } from './marker-latency.mjs';

const args = process.argv.slice(2);
const opt = (/** @type {string} */ name, /** @type {string} */ dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
};
const LOSS = Number(opt('loss', '20'));
const DURATION_S = Number(opt('duration', '20'));
const JSON_ONLY = args.includes('--json');
/** @type {number[][]} */
const RED_PATTERNS = opt('red-distances', '1,2')
    .split(';')
    .filter((p) => p.trim() !== '')
    .map((p) => p.split(',').map((d) => Number(d.trim())));
if (RED_PATTERNS.some((p) => p.some((d) => !Number.isInteger(d) || d < 1))) {
    throw new Error(`--red-distances: give patterns like '1' or '1;1,2', not '${opt('red-distances', '')}'`);
}
const RUNGS = opt('rungs', '64,32').split(',');
const log = (/** @type {string} */ s) => {
    if (!JSON_ONLY) console.error(s);
};

/** A UDP port free right now on 127.0.0.1. */
async function freeUdpPort() {
    const s = dgram.createSocket('udp4');
    await new Promise((r) => s.bind(0, '127.0.0.1', () => r(undefined)));
    const port = s.address().port;
    await new Promise((r) => s.close(() => r(undefined)));
    return port;
}

/** `ondes netsim --udp` from `listen` to `upstream`; resolves once it listens. */
async function startNetsim(/** @type {number} */ listen, /** @type {number} */ upstream, /** @type {string} */ script) {
    const proc = spawn(ONDES_BIN, ['netsim', '--udp', '--listen', `127.0.0.1:${listen}`, '--upstream', `127.0.0.1:${upstream}`, '--script', script, '--report-secs', '0'], {
        stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`ondes netsim did not start within 10 s:\n${err}`)), 10000);
        proc.stderr.on('data', (d) => {
            err += d.toString();
            if (err.includes('netsim')) {
                clearTimeout(t);
                resolve(undefined);
            }
        });
        proc.on('exit', (c) => reject(new Error(`ondes netsim exited with ${c}:\n${err}`)));
    });
    return proc;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ondes-whep-loss-'));
const script = path.join(dir, 'loss.txt');
fs.writeFileSync(script, `3s custom bw=10mbps delay=5ms\n1s custom bw=10mbps delay=5ms loss=${LOSS}%\n`);
const browser = await launchMarkerBrowser();
/** @type {any[]} */
const results = [];
try {
    /** @type {[string, number[] | null][]} */
    const cases = RUNGS.flatMap((rung) => [...RED_PATTERNS.map((p) => /** @type {[string, number[] | null]} */ ([rung, p])), [rung, null]]);
    for (const [rung, distances] of cases) {
        const red = distances !== null;
        const label = `rung ${rung} kbit/s (${rung === '32' ? 'in-band FEC' : 'no in-band FEC'}), RED ${red ? `[${distances.join(', ')}]` : 'off'}`;
        log(`# ${label}: ${LOSS} % loss, 5 s warm-up + ${DURATION_S} s…`);
        const rtcPort = await freeUdpPort();
        const proxyPort = await freeUdpPort();
        const ondes = await startMarkerServer({ rtcPort, red, redDistances: distances ?? undefined, rungs: '32,64' });
        const proxy = await startNetsim(proxyPort, rtcPort, script);
        try {
            const r = await measureTransport(browser.page, ondes.url, 'whep', { seconds: DURATION_S, warmupS: 5, whepRung: rung, candidatePort: { from: rtcPort, to: proxyPort } });
            results.push({ label, rung, red, red_distances: distances, ...r });
        } finally {
            proxy.kill('SIGTERM');
            await ondes.stop();
        }
    }
} finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
}

const pct = (/** @type {number} */ x) => `${(x * 100).toFixed(1)} %`;
if (!JSON_ONLY) {
    console.log(`\nWHEP in Chromium at ${LOSS} % loss each way (ondes netsim --udp), ${DURATION_S} s after a 5 s warm-up\n`);
    console.log('| case | packets lost / received | concealed samples | FEC packets received | glass-to-glass p50 / p95 / max (ms) | load avg |');
    console.log('|---|---|---|---|---|---|');
    for (const r of results) {
        const w = r.webrtc_after_warmup;
        console.log(
            `| ${r.label} | ${w.packetsLost} / ${w.packetsReceived} (${pct(w.lossRatio)}) | **${pct(w.concealedRatio)}** | ${w.fecPacketsReceived} | ${r.glass_to_glass_ms.p50} / ${r.glass_to_glass_ms.p95} / ${r.glass_to_glass_ms.max} | ${r.load_average_1m.before} → ${r.load_average_1m.after} |`,
        );
    }
    console.log('');
}
console.log(JSON.stringify({ bench: 'whep-loss', binary: ONDES_BIN, loss_percent: LOSS, duration_s: DURATION_S, results }, null, JSON_ONLY ? 0 : 2));
