// Unit tests of the Player's WebSocket source (WsOpusSource in web/static/ws-source.js) with a
// scripted WebSocket and a scripted WebCodecs AudioDecoder: ordering of asynchronous Opus
// decoding against PCM, concealment of empty Opus packets, ping/pong RTT, reports,
// reconnection, and what happens to bad input. The real thing runs in player.test.mjs.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAudio } from '../static/wire.js';
import { WsOpusSource, WsPcm16Source } from '../static/ws-source.js';
import { Player } from '../static/player.js';
import { adviceBounds, withUserBounds } from '../static/jitter-advice.js';
import { parseJitterAdvice as parseAdvice, skippedFrames } from '../static/protocol.js';

const RATE = 48000;
const FRAME = 960; // 20 ms
const T0_US = 1_763_700_000_000_000;

/** @type {FakeWebSocket[]} */
let sockets = [];
/** @type {FakeDecoder[]} */
let decoders = [];

class FakeWebSocket {
    constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.sent = [];
        this.binaryType = 'blob';
        this.onmessage = null;
        this.onclose = null;
        sockets.push(this);
    }
    send(data) {
        this.sent.push(JSON.parse(data));
    }
    close(code = 1000) {
        if (this.readyState === 3) return;
        this.readyState = 3;
        this.onclose?.({ code, reason: '' });
    }
    // test side
    open() {
        this.readyState = 1;
    }
    text(obj) {
        this.onmessage?.({ data: JSON.stringify(obj) });
    }
    binary(bytes) {
        this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
    }
    info(extra = {}) {
        this.open();
        this.text({ type: 'info', protocol: 1, stream: 'main', connection_id: '7', codec: 'opus', rung: '64', rungs: ['pcm16', '16', '32', '64'], sample_rate: RATE, channels: 2, frame_ms: 20, batch: 1, ...extra });
    }
}

/** Decodes a packet into a frame whose every sample is packet[0] / 100 (left) and minus that (right). */
class FakeDecoder {
    constructor({ output, error }) {
        this.output = output;
        this.error = error;
        this.state = 'unconfigured';
        this.pending = [];
        decoders.push(this);
    }
    configure(config) {
        this.config = config;
        this.state = 'configured';
    }
    decode(chunk) {
        if (this.state !== 'configured') throw new Error('not configured');
        this.pending.push(chunk);
    }
    reset() {
        this.pending = [];
        this.state = 'unconfigured';
    }
    close() {
        this.pending = [];
        this.state = 'closed';
    }
    static async isConfigSupported(config) {
        return { supported: config.codec === 'opus', config };
    }
    // test side: emit the outputs of everything decoded so far (in order)
    flush() {
        for (const chunk of this.pending.splice(0)) {
            const v = chunk.data[0] / 100;
            this.output({
                timestamp: chunk.timestamp,
                numberOfFrames: FRAME,
                numberOfChannels: 2,
                sampleRate: RATE,
                format: 'f32',
                copyTo(dst, { planeIndex }) {
                    dst.fill(planeIndex === 0 ? v : -v);
                },
                close() {},
            });
        }
    }
}

class FakeChunk {
    constructor({ type, timestamp, duration, data }) {
        Object.assign(this, { type, timestamp, duration, data: new Uint8Array(data) });
    }
}

beforeEach(() => {
    sockets = [];
    decoders = [];
    globalThis.WebSocket = /** @type {any} */ (FakeWebSocket);
    globalThis.AudioDecoder = /** @type {any} */ (FakeDecoder);
    globalThis.EncodedAudioChunk = /** @type {any} */ (FakeChunk);
});

afterEach(() => {
    delete globalThis.WebSocket;
    delete globalThis.AudioDecoder;
    delete globalThis.EncodedAudioChunk;
});

/** An Opus message: `packets` (arrays of bytes; [] = missing) from sequence `seq`. */
function opus(seq, packets) {
    return encodeAudio({ codec: 'opus', channels: 2, frameUs: 20000, sampleRate: RATE, firstSeq: seq, captureUs: T0_US + seq * 20000 }, packets.map((p) => new Uint8Array(p)));
}

/** A PCM16 message of one frame with every sample `v` (left) and −v (right). */
function pcm(seq, v) {
    const bytes = new Uint8Array(FRAME * 4);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < FRAME; i++) {
        dv.setInt16(4 * i, Math.round(v * 32768), true);
        dv.setInt16(4 * i + 2, Math.round(-v * 32768), true);
    }
    return encodeAudio({ codec: 'pcm16', channels: 2, frameUs: 20000, sampleRate: RATE, firstSeq: seq, captureUs: T0_US + seq * 20000 }, [bytes]);
}

function sink() {
    const s = { frames: [], statuses: [], states: [], errors: [], bounds: [], events: [] };
    return {
        log: s,
        frame: (f) => (s.frames.push(f), s.events.push(`frame ${f.seq}`)),
        status: (x) => (s.statuses.push(x), s.events.push(x.status)),
        state: (x) => s.states.push(x),
        error: (e) => s.errors.push(e),
        jitterBounds: (b) => s.bounds.push(b),
    };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('connects to /ws with rung, batch and token; start() resolves at the info message', async () => {
    const src = new WsOpusSource('http://127.0.0.1:9000/', 'tok en', 'main', { batch: 2 });
    const k = sink();
    let started = false;
    const p = src.start(k).then(() => (started = true));
    assert.equal(sockets.length, 1);
    const u = new URL(sockets[0].url);
    assert.equal(u.protocol, 'ws:');
    assert.equal(u.host, '127.0.0.1:9000');
    assert.equal(u.pathname, '/api/streams/main/ws');
    assert.equal(u.searchParams.get('rung'), 'auto');
    assert.equal(u.searchParams.get('batch'), '2');
    assert.equal(u.searchParams.get('profile'), 'ultra_performance', 'the live-listening profile by default');
    assert.equal(u.searchParams.get('access_token'), 'tok en');
    assert.equal(sockets[0].binaryType, 'arraybuffer');
    await sleep(1);
    assert.equal(started, false);
    sockets[0].info();
    await p;
    assert.deepEqual(k.log.states, ['connecting', 'live']);
    assert.equal(src.name, 'ws-opus');
    assert.equal(decoders.length, 1);
    assert.deepEqual(decoders[0].config, { codec: 'opus', sampleRate: RATE, numberOfChannels: 2 });
    src.stop();
    assert.equal(sockets[0].readyState, 3);
    assert.equal(new URL(new WsPcm16Source('https://example.org', null, 'a b').url()).toString(), 'wss://example.org/api/streams/a%20b/ws?rung=pcm16&batch=1&profile=ultra_performance');
});

test('Opus frames are decoded asynchronously and leave in sequence, also around PCM frames', async () => {
    const src = new WsOpusSource('http://h', null, 'main');
    const k = sink();
    const p = src.start(k);
    const ws = sockets[0];
    ws.info();
    await p;
    ws.binary(opus(10, [[10], [20]]));
    assert.equal(k.log.frames.length, 0, 'nothing before the decoder answers');
    // the quality cap moved the listener to PCM: a PCM frame arrives before the Opus outputs
    ws.text({ type: 'rung', rung: 'pcm16', reason: 'stream quality set to 0.1' });
    ws.binary(pcm(12, 0.25));
    assert.equal(k.log.frames.length, 0, 'the PCM frame waits for the Opus frames before it');
    decoders[0].flush();
    assert.deepEqual(
        k.log.frames.map((f) => f.seq),
        [10, 11, 12],
    );
    const [a, b, c] = k.log.frames;
    assert.equal(a.samples[0][0], Math.fround(0.1));
    assert.equal(b.samples[1][5], Math.fround(-0.2));
    assert.equal(c.samples[0][0], 0.25);
    assert.equal(c.samples[1][0], -0.25);
    assert.equal(a.captureMs, (T0_US + 10 * 20000) / 1000);
    assert.equal(b.captureMs, a.captureMs + 20, 'frame i of a message: capture + i × duration');
    assert.equal(a.sampleRate, RATE);
    assert.ok(a.receivedMs > 0 && a.decodedMs >= a.receivedMs);
    assert.equal(src.stats().rung, 'pcm16');
    assert.equal(src.name, 'ws-pcm16');
    assert.equal(src.stats().framesReceived, 3);
    assert.deepEqual(k.log.statuses.map((s) => s.status), ['rung']);
    src.stop();
});

test('an empty Opus packet is concealed: the timeline keeps its length, fades out, the next frame fades in', async () => {
    const src = new WsOpusSource('http://h', null, 'main');
    const k = sink();
    const p = src.start(k);
    const ws = sockets[0];
    ws.info();
    await p;
    // a ramp frame makes the backwards playing visible
    ws.binary(opus(0, [[50], [], [], [], [50]]));
    assert.equal(decoders[0].pending.length, 2, 'empty packets are not given to the decoder');
    decoders[0].flush();
    const f = k.log.frames;
    assert.deepEqual(
        f.map((x) => x.seq),
        [0, 1, 2, 3, 4],
    );
    for (const x of f) assert.equal(x.samples[0].length, FRAME);
    // first missing frame: starts at the last frame's level, fades linearly to half
    assert.ok(Math.abs(f[1].samples[0][0] - 0.5) < 1e-6);
    assert.ok(Math.abs(f[1].samples[0][FRAME - 1] - 0.25) < 0.01);
    assert.ok(Math.abs(f[1].samples[1][0] + 0.5) < 1e-6, 'per channel');
    // second: from half to silence; third: silence
    assert.ok(Math.abs(f[2].samples[0][0] - 0.25) < 0.01);
    assert.ok(Math.abs(f[2].samples[0][FRAME - 1]) < 0.01);
    assert.ok(f[3].samples[0].every((v) => v === 0));
    // the first real frame after the gap fades in over 5 ms (240 samples)
    assert.equal(f[4].samples[0][0], 0);
    assert.ok(f[4].samples[0][120] > 0.2 && f[4].samples[0][120] < 0.3);
    assert.equal(f[4].samples[0][240], 0.5);
    const st = src.stats();
    assert.equal(st.concealedFrames, 3);
    assert.equal(st.lostFrames, 3);
    assert.equal(st.concealedMs, 60);
    src.stop();
});

test('concealment plays the last frame backwards then forwards (continuous joins)', async () => {
    const src = new WsOpusSource('http://h', null, 'main');
    const k = sink();
    const p = src.start(k);
    sockets[0].info();
    await p;
    // PCM frames so that the content is a ramp we choose; an empty PCM frame is missing too
    const ramp = new Uint8Array(FRAME * 4);
    const dv = new DataView(ramp.buffer);
    for (let i = 0; i < FRAME; i++) dv.setInt16(4 * i, i * 16, true);
    const hdr = (seq) => ({ codec: /** @type {const} */ ('pcm16'), channels: 2, frameUs: 20000, sampleRate: RATE, firstSeq: seq, captureUs: T0_US });
    sockets[0].binary(encodeAudio(hdr(0), [ramp, new Uint8Array(0), new Uint8Array(0)]));
    const [last, c1, c2] = k.log.frames;
    const L = last.samples[0];
    assert.ok(Math.abs(c1.samples[0][0] - L[FRAME - 1]) < 1e-6, 'continues from the last sample');
    assert.ok(Math.abs(c1.samples[0][10] - L[FRAME - 11] * (1 - 10 / FRAME / 2)) < 1e-6, 'backwards, with the fade');
    assert.ok(Math.abs(c2.samples[0][10] - L[10] * (0.5 - 10 / FRAME / 2)) < 1e-6, 'then forwards');
    src.stop();
});

test('pings every interval, measures the RTT from pongs; reports carry it', async () => {
    const src = new WsOpusSource('http://h', null, 'main', { pingIntervalMs: 30 });
    const k = sink();
    const p = src.start(k);
    const ws = sockets[0];
    src.sendReport({ type: 'report', buffer_ms: 1, target_ms: 1, underruns: 0, concealed_ms: 0, late_frames: 0, lost_frames: 0, received_frames: 0 });
    assert.equal(ws.sent.length, 0, 'nothing is sent before the info message');
    ws.info();
    await p;
    assert.equal(ws.sent.length, 1);
    const ping = ws.sent[0];
    assert.equal(ping.type, 'ping');
    assert.equal(ping.id, 1);
    assert.ok(Math.abs(ping.client_ts_us / 1000 - (performance.timeOrigin + performance.now())) < 1000);
    await sleep(12);
    ws.text({ type: 'pong', id: ping.id, client_ts_us: ping.client_ts_us, server_ts_us: ping.client_ts_us + 5000 });
    const rtt = src.stats().rttMs;
    assert.ok(rtt >= 10 && rtt < 200, `rtt ${rtt}`);
    // server clock − client clock ≈ 5 ms − rtt/2
    assert.ok(Math.abs(src.stats().clockOffsetMs - (5 - rtt / 2)) < 1, `offset ${src.stats().clockOffsetMs}`);
    ws.text({ type: 'pong', id: 999, client_ts_us: 1, server_ts_us: 2 }); // unknown id: ignored
    assert.equal(src.stats().rttMs, rtt);
    await sleep(80);
    assert.ok(ws.sent.filter((m) => m.type === 'ping').length >= 2, 'periodic pings');
    src.sendReport({ type: 'report', buffer_ms: 40, target_ms: 45, underruns: 1, concealed_ms: 20, late_frames: 0, lost_frames: 2, received_frames: 300, e2e_latency_ms: 55 });
    const report = ws.sent.filter((m) => m.type === 'report');
    assert.equal(report.length, 1);
    assert.deepEqual(report[0], { type: 'report', buffer_ms: 40, target_ms: 45, underruns: 1, concealed_ms: 20, late_frames: 0, lost_frames: 2, received_frames: 300, e2e_latency_ms: 55, rtt_ms: Math.round(rtt * 100) / 100 });
    src.stop();
    const n = ws.sent.length;
    await sleep(80);
    assert.equal(ws.sent.length, n, 'no pings after stop()');
});

test('statuses map to states; a closed connection is reopened; stream_ended is final', async () => {
    const src = new WsOpusSource('http://h', null, 'main', { reconnectBaseMs: 5, reconnectMaxMs: 10 });
    const k = sink();
    const p = src.start(k);
    sockets[0].info({ paused: true });
    await p;
    assert.equal(src.state, 'paused');
    sockets[0].text({ type: 'status', status: 'resumed', skipped_while_paused: 12 });
    sockets[0].text({ type: 'status', status: 'source-lost' });
    sockets[0].text({ type: 'status', status: 'source-restored' });
    sockets[0].text({ type: 'status', status: 'lagged', skipped_frames: 40 });
    assert.deepEqual(k.log.states, ['connecting', 'paused', 'live', 'source-lost', 'live']);
    assert.deepEqual(k.log.statuses.map((s) => s.status), ['resumed', 'source-lost', 'source-restored', 'lagged']);

    // frames in flight when the connection drops are forgotten with the decoder state
    assert.equal(new URL(sockets[0].url).searchParams.get('last_seq'), null, 'a first connection joins at live');
    sockets[0].binary(opus(2 ** 32 + 100, [[1]]));
    sockets[0].close(1006);
    assert.equal(src.state, 'reconnecting');
    assert.match(k.log.errors.at(-1).message, /reconnecting in \d+ ms \(attempt 1 of 10\)/);
    await sleep(30);
    assert.equal(sockets.length, 2, 'reopened after the backoff');
    assert.equal(new URL(sockets[1].url).searchParams.get('last_seq'), '100', 'resumes after the last frame (low 32 bits)');
    sockets[1].info();
    assert.equal(src.state, 'live');
    assert.equal(src.stats().reconnects, 1);
    // the server restarted in between: the frames since are gone, counted once
    sockets[1].text({ type: 'status', status: 'gap', from_frame: 101, missed_frames: 150 });
    assert.equal(src.stats().resumeMissedFrames, 150);
    // a new connection's numbers are not extended against the old ones
    sockets[1].binary(opus(0, [[30]]));
    decoders.at(-1).flush();
    assert.deepEqual(k.log.frames.map((f) => f.seq), [0]);

    sockets[1].text({ type: 'error', error: 'stream_ended', message: 'source finished' });
    assert.equal(src.state, 'ended');
    sockets[1].close();
    await sleep(30);
    assert.equal(sockets.length, 2, 'no reconnection after stream_ended');
    src.stop();
});

test('a first connection that fails rejects start() (the Player then falls back)', async () => {
    const src = new WsOpusSource('http://h', null, 'main');
    const k = sink();
    const p = src.start(k);
    sockets[0].close(1006);
    await assert.rejects(p, /closed \(code 1006\)/);
    assert.equal(src.state, 'failed');
    await sleep(20);
    assert.equal(sockets.length, 1);

    const slow = new WsOpusSource('http://h', null, 'main', { connectTimeoutMs: 20 });
    const q = slow.start(sink());
    await assert.rejects(q, /no info message within 20 ms/);
});

test('bad binary messages are counted and reported; the connection carries on', async () => {
    const src = new WsOpusSource('http://h', null, 'main');
    const k = sink();
    const p = src.start(k);
    const ws = sockets[0];
    ws.info();
    await p;
    ws.binary(new Uint8Array([2, 0x21, 1, 40]));
    const bad = opus(5, [[1]]);
    bad[0] = 9;
    ws.binary(bad);
    ws.onmessage({ data: 'not json' });
    assert.equal(src.stats().invalidMessages, 3);
    assert.equal(k.log.errors.filter((e) => e.type === 'invalid_message').length, 2);
    ws.binary(opus(6, [[40]]));
    decoders[0].flush();
    assert.deepEqual(k.log.frames.map((f) => f.seq), [6]);
    assert.equal(src.state, 'live');
    src.stop();
});

test('a decoder error conceals the frames in flight and a new decoder takes over', async () => {
    const src = new WsOpusSource('http://h', null, 'main');
    const k = sink();
    const p = src.start(k);
    const ws = sockets[0];
    ws.info();
    await p;
    ws.binary(opus(0, [[40], [40]]));
    decoders[0].error(new Error('corrupt packet'));
    assert.deepEqual(k.log.frames.map((f) => f.seq), [0, 1]);
    assert.equal(src.stats().decodeErrors, 1);
    assert.equal(src.stats().concealedFrames, 2);
    ws.binary(opus(2, [[60]]));
    assert.equal(decoders.length, 2);
    decoders[1].flush();
    assert.deepEqual(k.log.frames.map((f) => f.seq), [0, 1, 2]);
    assert.equal(k.log.frames[2].samples[0][500], Math.fround(0.6));
    src.stop();
});

test('isSupported asks WebCodecs, and is false without it', async () => {
    assert.equal(await WsOpusSource.isSupported(48000, 2), true);
    delete globalThis.AudioDecoder;
    assert.equal(await WsOpusSource.isSupported(48000, 2), false);
});

test('jitter advice: bounds as the Rust client computes them (batch × frame + rtts × RTT), the user\'s as extra floor and ceiling', () => {
    const advice = parseAdvice({ target_ms: 60, max_ms: 2000, rtts: 2 });
    assert.deepEqual(advice, { target_ms: 60, max_ms: 2000, rtts: 2 });
    // the same cases as ondes-core's JitterAdvice::bounds_us
    assert.deepEqual(adviceBounds(advice, 80, 0), { minMs: 80, maxMs: 2000 });
    assert.deepEqual(adviceBounds(advice, 80, 100), { minMs: 280, maxMs: 2000 });
    assert.deepEqual(adviceBounds({ target_ms: 3000, max_ms: 2000, rtts: 8 }, 80, 0), { minMs: 3000, maxMs: 3000 });
    assert.equal(parseAdvice(undefined), null);
    assert.equal(parseAdvice({ target_ms: 60, max_ms: 'x', rtts: 3 }), null);
    // as ondes listen --min-jitter/--max-jitter
    assert.deepEqual(withUserBounds({ minMs: 80, maxMs: 2000 }), { minMs: 80, maxMs: 2000 });
    assert.deepEqual(withUserBounds({ minMs: 80, maxMs: 2000 }, { minTargetMs: 150 }), { minMs: 150, maxMs: 2000 });
    assert.deepEqual(withUserBounds({ minMs: 80, maxMs: 2000 }, { minTargetMs: 50, maxTargetMs: 500 }), { minMs: 80, maxMs: 500 });
    assert.deepEqual(withUserBounds({ minMs: 280, maxMs: 2000 }, { maxTargetMs: 200 }), { minMs: 200, maxMs: 200 });
    assert.equal(skippedFrames({ status: 'lagged', skipped_frames: 40 }), 40);
    assert.equal(skippedFrames({ status: 'resumed', skipped_while_paused: 12 }), 12);
    assert.equal(skippedFrames({ status: 'resumed' }), 0);
    assert.equal(skippedFrames({ status: 'source-lost', skipped_frames: 3 }), 0);
});

test('the WS source takes bounds from info, again at the first pong, and from a rung message only when it carries jitter', async () => {
    const src = new WsOpusSource('http://h', null, 'main', { batch: 4, pingIntervalMs: 60_000 });
    const k = sink();
    const p = src.start(k);
    const ws = sockets[0];
    ws.info({ batch: 4, frame_ms: 20, jitter: { target_ms: 60, max_ms: 2000, rtts: 3 } });
    await p;
    // no round trip measured yet: 0 (a message of 4 × 20 ms is above the 60 ms target)
    assert.deepEqual(k.log.bounds, [{ minMs: 80, maxMs: 2000 }]);
    const ping = ws.sent.find((m) => m.type === 'ping');
    await sleep(15);
    ws.text({ type: 'pong', id: ping.id, client_ts_us: ping.client_ts_us, server_ts_us: ping.client_ts_us });
    const rtt = src.stats().rttMs;
    assert.ok(rtt >= 10, `rtt ${rtt}`);
    assert.equal(k.log.bounds.length, 2, 'applied again when the first round trip is known');
    assert.ok(Math.abs(k.log.bounds[1].minMs - (80 + 3 * rtt)) < 1e-9, `floor ${k.log.bounds[1].minMs} = 80 + 3 × ${rtt}`);
    assert.equal(k.log.bounds[1].maxMs, 2000);
    // later round trips do not move the bounds
    src.ping();
    const ping2 = ws.sent.filter((m) => m.type === 'ping').at(-1);
    ws.text({ type: 'pong', id: ping2.id, client_ts_us: ping2.client_ts_us, server_ts_us: ping2.client_ts_us });
    assert.equal(k.log.bounds.length, 2);
    // a rung without jitter keeps the bounds (but its batch counts for the next advice)
    ws.text({ type: 'rung', rung: '32', profile: 'balanced', batch: 2, jitter_target_ms: 184 });
    assert.equal(k.log.bounds.length, 2, 'no jitter, no new bounds');
    assert.equal(src.stats().batch, 2);
    // a rung with jitter: new bounds, with the rung's batch
    ws.text({ type: 'rung', rung: '32', profile: 'balanced', batch: 2, jitter_target_ms: 184, jitter: { target_ms: 184, max_ms: 2000, rtts: 3 } });
    assert.equal(k.log.bounds.length, 3);
    assert.deepEqual(k.log.bounds[2], { minMs: Math.max(184, 40 + 3 * rtt), maxMs: 2000 });
    ws.text({ type: 'rung', rung: '16', profile: 'robust', batch: 8, jitter: { target_ms: 100, max_ms: 4000, rtts: 3 } });
    assert.deepEqual(k.log.bounds[3], { minMs: Math.max(100, 160 + 3 * rtt), maxMs: 4000 });
    assert.deepEqual(src.stats().jitterAdvice, { target_ms: 100, max_ms: 4000, rtts: 3 });
    assert.deepEqual(src.stats().advisedBoundsMs, [k.log.bounds[3].minMs, 4000]);
    assert.deepEqual(k.log.statuses.map((s) => s.status), ['rung', 'rung', 'rung'], 'rung messages still reach the sink');

    // an older server: no advice, no bounds
    const old = new WsOpusSource('http://h', null, 'main');
    const k2 = sink();
    const q = old.start(k2);
    sockets[1].info();
    await q;
    sockets[1].text({ type: 'rung', rung: '32', batch: 1 });
    assert.deepEqual(k2.log.bounds, []);
    src.stop();
    old.stop();
});

test('statuses leave in order with the frames: lagged comes after the frames still in the decoder', async () => {
    const src = new WsOpusSource('http://h', null, 'main');
    const k = sink();
    const p = src.start(k);
    const ws = sockets[0];
    ws.info();
    await p;
    ws.binary(opus(10, [[10], [20]]));
    ws.text({ type: 'status', status: 'lagged', skipped_frames: 40 });
    ws.binary(opus(52, [[30]]));
    assert.deepEqual(k.log.events, [], 'the notice waits for the frames before it');
    decoders[0].flush();
    assert.deepEqual(k.log.events, ['frame 10', 'frame 11', 'lagged', 'frame 52']);
    assert.equal(src.stats().serverSkippedFrames, 40);
    // with nothing in flight a notice goes at once
    ws.text({ type: 'status', status: 'paused' });
    assert.equal(k.log.events.at(-1), 'paused');
    src.stop();
});

test('the Player hands the bounds (with the user\'s) and the skip notices to the worklet', () => {
    const posted = [];
    const player = new Player('http://h', { jitter: { minTargetMs: 150 } });
    player.node = /** @type {any} */ ({ port: { postMessage: (m) => posted.push(m) } });
    player.applyJitterBounds({ minMs: 80, maxMs: 2000 });
    player.applyJitterBounds({ minMs: 280, maxMs: 2000 });
    assert.deepEqual(posted, [
        { type: 'bounds', minMs: 150, maxMs: 2000 },
        { type: 'bounds', minMs: 280, maxMs: 2000 },
    ]);
    assert.deepEqual(player.jitterBounds, { minMs: 280, maxMs: 2000 });
    posted.length = 0;
    player.handleStatus({ status: 'lagged', skipped_frames: 40 });
    player.handleStatus({ status: 'lagged', skipped_frames: 0 });
    player.handleStatus({ status: 'paused' });
    player.handleStatus({ status: 'resumed', skipped_while_paused: 12 });
    player.handleStatus({ status: 'paused' });
    player.handleStatus({ status: 'resumed' });
    player.handleStatus({ status: 'source-lost' });
    assert.deepEqual(
        posted.map((m) => m.type),
        ['skip', 'idle', 'skip', 'idle', 'resync'],
    );
    // the worklet's stats reach getStats
    player.worklet = { framesSkipped: 40, minTargetMs: 280, maxTargetMs: 2000 };
    const st = player.getStats();
    assert.equal(st.framesSkipped, 40);
    assert.deepEqual(st.jitterBoundsMs, [280, 2000]);
    const plain = new Player('http://h');
    plain.node = /** @type {any} */ ({ port: { postMessage: (m) => posted.push(m) } });
    plain.applyJitterBounds({ minMs: 80, maxMs: 2000 });
    assert.deepEqual(posted.at(-1), { type: 'bounds', minMs: 80, maxMs: 2000 });
});
