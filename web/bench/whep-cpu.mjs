#!/usr/bin/env node
// Server CPU per listener-second: WHEP beside WebSocket, at the same granularity (one 20 ms
// Opus frame per RTP packet / per WebSocket message), in one run (a benchmark, not a test).
//
//   node web/bench/whep-cpu.mjs [--listeners 50] [--duration 10] [--json]
//
// Starts `ondes serve` with a 48 kHz mono tone stream and WebRTC on loopback, and Debian's
// Chromium; opens --listeners WHEP peer connections (rung 32) in one page and holds them for
// --duration seconds, then the same number of WebSocket listeners (`rung=32&batch=1`). For
// each phase it reads the server's CPU time (/proc/<pid>/stat, user + system) over the
// steady part, less what it spends with no listener (measured first: the tone source and
// the encoder), and reports µs of server CPU per listener-second, and the ratio.
//
// Environment: ONDES_BIN (default target/debug/ondes; a release build is what users run),
// CHROMIUM_PATH (default /usr/bin/chromium).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startOndes, launchBrowser, sleep, ONDES_BIN } from '../tests/helpers.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : d;
};
const N = opt('listeners', 50);
const SECS = opt('duration', 10);
const TICK = 100; // USER_HZ on Linux

function cpuSecs(pid) {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK; // utime + stime
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ondes-whep-bench-'));
const config = path.join(dir, 'ondes.toml');
fs.writeFileSync(
    config,
    `[webrtc]\nudp_port = 0\nips = ["127.0.0.1"]\n` +
        `[[stream]]\nid = "tone"\nsource = "tone:sine?freq=440&amp=0.5"\nsample_rate = 48000\nchannels = 1\nrungs = "32"\n`,
);
const ondes = await startOndes({ args: ['--config', config] });
const browser = await launchBrowser({
    args: ['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'],
});
const { page } = browser;
await page.goto(`${ondes.url}/player.html`);

/** Server CPU seconds per second with no listener (the tone source and encoder). */
async function idle() {
    const c0 = cpuSecs(ondes.proc.pid);
    const t0 = performance.now();
    await sleep(SECS * 1000);
    return (cpuSecs(ondes.proc.pid) - c0) / ((performance.now() - t0) / 1000);
}

async function measure(label, open, base) {
    await page.evaluate(open, N);
    await sleep(2000); // joins settle
    const c0 = cpuSecs(ondes.proc.pid);
    const t0 = performance.now();
    await sleep(SECS * 1000);
    const c1 = cpuSecs(ondes.proc.pid);
    const wall = (performance.now() - t0) / 1000;
    const alive = await page.evaluate(() => /** @type {any} */ (window).alive());
    await page.evaluate(() => /** @type {any} */ (window).closeAll());
    await sleep(1500);
    const perListener = (c1 - c0 - base * wall) / (N * wall);
    return { label, listeners: N, alive, wall_s: wall, cpu_s: c1 - c0, us_per_listener_s: perListener * 1e6 };
}

await sleep(2000);
const base = await idle();
const whep = await measure('whep', async (n) => {
    const w = /** @type {any} */ (window);
    const { startWhep } = await import('/player-whep.js');
    const sessions = [];
    for (let i = 0; i < n; i++) sessions.push(await startWhep('/api/streams/tone/whep?rung=32', { play: false }));
    w.alive = () => sessions.filter((s) => s.pc.connectionState === 'connected').length;
    w.closeAll = async () => Promise.all(sessions.map((s) => s.stop()));
}, base);
const ws = await measure('ws', async (n) => {
    const w = /** @type {any} */ (window);
    const socks = [];
    for (let i = 0; i < n; i++) {
        const s = new WebSocket(`ws://${location.host}/api/streams/tone/ws?rung=32&batch=1`);
        s.binaryType = 'arraybuffer';
        socks.push(s);
    }
    w.alive = () => socks.filter((s) => s.readyState === WebSocket.OPEN).length;
    w.closeAll = async () => socks.forEach((s) => s.close());
}, base);
await browser.close();
await ondes.stop();

const result = { binary: ONDES_BIN, load_avg: os.loadavg(), idle_cpu_per_s: base, whep, ws, ratio: whep.us_per_listener_s / ws.us_per_listener_s };
if (args.includes('--json')) console.log(JSON.stringify(result));
else {
    console.log(`server CPU per listener-second, ${N} listeners, ${SECS} s each (${ONDES_BIN}); idle ${(base * 1000).toFixed(1)} ms/s`);
    for (const r of [whep, ws]) console.log(`  ${r.label.padEnd(5)} ${r.us_per_listener_s.toFixed(1)} µs  (alive ${r.alive}/${N}, cpu ${r.cpu_s.toFixed(2)} s over ${r.wall_s.toFixed(1)} s)`);
    console.log(`  whep / ws: ${result.ratio.toFixed(2)}×   load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}
