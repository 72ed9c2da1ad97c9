// Unit tests of AudioStreamClient's logic in Node, with a scripted EventSource: frame
// validation, sequence accounting, statuses, backoff, and the reconnection URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AudioStreamClient, validateFrame, decodePcm16 } from '../static/client.js';

/** An EventSource whose events the test sends by hand. */
class FakeEventSource {
    /** @type {FakeEventSource[]} */
    static all = [];
    constructor(url) {
        this.url = url;
        this.closed = false;
        /** @type {Record<string, Function[]>} */
        this.listeners = {};
        FakeEventSource.all.push(this);
    }
    addEventListener(type, fn) {
        (this.listeners[type] ??= []).push(fn);
    }
    close() {
        this.closed = true;
    }
    emit(type, data, lastEventId = '') {
        for (const fn of this.listeners[type] ?? []) fn({ type, data, lastEventId });
    }
    fail() {
        for (const fn of this.listeners.error ?? []) fn({ type: 'error' });
    }
}

const frameJson = (n, { frames = 1, len = 960 * frames, rate = 48000, extra = {} } = {}) =>
    JSON.stringify({
        frame_number: n,
        timestamp: Date.now() - 5,
        capture_us: (Date.now() - 5) * 1000,
        sample_rate: rate,
        channels: 2,
        duration_ms: 20 * frames,
        frames,
        format: 'json',
        channel_a: Array.from({ length: len }, (_, i) => Math.sin(i / 10) * 0.5),
        channel_b: Array.from({ length: len }, () => 0.25),
        ...extra,
    });

function makeClient(opts = {}) {
    FakeEventSource.all = [];
    const c = new AudioStreamClient('http://ondes.test/', 'tok', {
        EventSource: /** @type {any} */ (FakeEventSource),
        statsIntervalMs: 0,
        stallMs: 0,
        reconnectBaseMs: 10,
        reconnectMaxMs: 40,
        ...opts,
    });
    return c;
}

const es = () => FakeEventSource.all[FakeEventSource.all.length - 1];

test('validateFrame accepts the contract and rejects malformed frames', () => {
    const ok = validateFrame(JSON.parse(frameJson(3)), Date.now());
    assert.ok('frame' in ok);
    assert.equal(ok.frame.channel_a.length, 960);
    assert.ok(ok.frame.latency_ms >= 4 && ok.frame.latency_ms < 100);
    const bad = [
        null,
        {},
        { ...JSON.parse(frameJson(1)), frame_number: -1 },
        { ...JSON.parse(frameJson(1)), frame_number: 1.5 },
        { ...JSON.parse(frameJson(1)), sample_rate: 'fast' },
        { ...JSON.parse(frameJson(1)), duration_ms: 0 },
        { ...JSON.parse(frameJson(1)), channel_a: 'nope' },
        { ...JSON.parse(frameJson(1)), channel_b: [1, 2, 3] },
        { ...JSON.parse(frameJson(1)), channel_a: [...JSON.parse(frameJson(1)).channel_a.slice(1), 'x'] },
        JSON.parse(frameJson(1, { len: 500 })),
        { ...JSON.parse(frameJson(1)), channel_a: undefined, channel_b: undefined, pcm16: '!!!' },
        { ...JSON.parse(frameJson(1)), channels: 3 },
    ];
    for (const b of bad) assert.ok('error' in validateFrame(b, Date.now()), `rejected: ${JSON.stringify(b)?.slice(0, 80)}`);
});

test('pcm16 frames are decoded to planar floats', () => {
    const pcm = Buffer.alloc(960 * 2 * 2);
    for (let i = 0; i < 960; i++) {
        pcm.writeInt16LE(16384, i * 4); // A: +0.5
        pcm.writeInt16LE(-32768, i * 4 + 2); // B: −1
    }
    const f = validateFrame({ frame_number: 0, timestamp: 1, sample_rate: 48000, channels: 2, duration_ms: 20, pcm16: pcm.toString('base64') }, 2);
    assert.ok('frame' in f);
    assert.equal(f.frame.channel_a[0], 0.5);
    assert.equal(f.frame.channel_b[959], -1);
    assert.equal(f.frame.format, 'pcm16');
    const mono = decodePcm16(Buffer.from([0, 64, 0, 192]).toString('base64'), 1);
    assert.deepEqual([...mono[0]], [0.5, -0.5]);
    assert.throws(() => decodePcm16(Buffer.from([1, 2, 3]).toString('base64'), 2));
});

test('frames are counted, gaps are missing frames, malformed ones are dropped and counted', async () => {
    const c = makeClient({ historySize: 3 });
    /** @type {string[]} */
    const errors = [];
    c.onError = (e) => errors.push(e.type);
    const p = c.connect();
    assert.match(es().url, /^http:\/\/ondes\.test\/api\/streams\/main\/stream\?format=json&access_token=tok$/);
    es().emit('message', 'connected', '7');
    await p;
    assert.equal(c.state, 'live');
    assert.equal(c.getStats().connectionId, '7');
    es().emit('audio-frame', frameJson(10), 'frame-10');
    es().emit('audio-frame', frameJson(11, { frames: 2 }), 'frame-12'); // merged (max_fps)
    es().emit('audio-frame', frameJson(16), 'frame-16'); // 13, 14, 15 missing
    es().emit('audio-frame', '{"frame_number": 17, "oops"', 'frame-17'); // not JSON
    es().emit('audio-frame', frameJson(17, { len: 10 }), 'frame-17'); // wrong length
    es().emit('audio-frame', frameJson(12), 'frame-12'); // duplicate of a merged frame
    es().emit('audio-frame', frameJson(17), 'frame-17');
    const s = c.getStats();
    assert.equal(s.framesReceived, 5);
    assert.equal(s.eventsReceived, 4);
    assert.equal(s.missingFrames, 3);
    assert.equal(s.invalidFrames, 2);
    assert.equal(s.duplicateFrames, 1);
    assert.equal(s.lastFrameNumber, 17);
    assert.deepEqual(errors, ['invalid_frame', 'invalid_frame']);
    assert.deepEqual(c.getFrameHistory().map((f) => f.frame_number), [11, 16, 17], 'bounded history');
    assert.deepEqual(c.getFrameHistory(1).map((f) => f.frame_number), [17]);
    assert.ok(Math.abs(c.calculateRMS('b') - 0.25) < 1e-9);
    assert.ok(c.calculateRMS('a') > 0.3);
    c.disconnect();
    assert.equal(c.state, 'closed');
    assert.ok(es().closed);
});

test('statuses drive the state; frames skipped while paused are not missing', async () => {
    const c = makeClient();
    const statuses = [];
    c.onStatus = (s) => statuses.push(s.status);
    const p = c.connect();
    es().emit('message', 'connected', '1');
    await p;
    es().emit('audio-frame', frameJson(1), 'frame-1');
    es().emit('status', '{"status":"paused"}');
    assert.equal(c.state, 'paused');
    es().emit('status', '{"status":"resumed","skipped_while_paused":40}');
    assert.equal(c.state, 'live');
    es().emit('audio-frame', frameJson(42), 'frame-42');
    assert.equal(c.getStats().missingFrames, 0);
    assert.equal(c.getStats().skippedWhilePaused, 40);
    es().emit('status', '{"status":"source-lost"}');
    assert.equal(c.state, 'source-lost');
    es().emit('status', '{"status":"source-restored"}');
    assert.equal(c.state, 'live');
    es().emit('status', '{"status":"lagged","skipped_frames":5}');
    es().emit('audio-frame', frameJson(48), 'frame-48');
    assert.equal(c.getStats().missingFrames, 5, 'frames the server skipped for lag are lost');
    es().emit('error', 'error: stream ended: source finished');
    assert.equal(c.state, 'ended');
    assert.deepEqual(statuses, ['paused', 'resumed', 'source-lost', 'source-restored', 'lagged']);
    c.disconnect();
});

test('a malformed status notice is reported and changes nothing', async () => {
    const c = makeClient();
    const statuses = [];
    const errors = [];
    c.onStatus = (s) => statuses.push(s.status);
    c.onError = (e) => errors.push(e);
    const p = c.connect();
    es().emit('message', 'connected', '1');
    await p;
    es().emit('audio-frame', frameJson(1), 'frame-1');
    es().emit('status', '{"status":"resumed","skipped_while_paused":-4}');
    es().emit('status', '{"status":null}');
    assert.equal(c.state, 'live');
    assert.equal(c.getStats().skippedWhilePaused, 0);
    assert.deepEqual(statuses, []);
    assert.deepEqual(errors.map((e) => e.type), ['invalid_status', 'invalid_status']);
    assert.match(errors[0].message, /skipped_while_paused/);
    // an older server's spelling and a bare word are still understood
    es().emit('status', '{"status":"source_lost"}');
    assert.equal(c.state, 'source-lost');
    es().emit('status', 'source-restored');
    assert.equal(c.state, 'live');
    assert.deepEqual(statuses, ['source-lost', 'source-restored']);
    c.disconnect();
});

test('no frame for stallMs while live: source lost (heartbeats do not count), until audio returns', async () => {
    const c = makeClient({ stallMs: 50 });
    const statuses = [];
    c.onStatus = (s) => statuses.push(s);
    const p = c.connect();
    es().emit('message', 'connected', '1');
    await p;
    es().emit('audio-frame', frameJson(1), 'frame-1');
    await new Promise((r) => setTimeout(r, 30));
    es().emit('heartbeat', 'heartbeat-1'); // proves the connection, not the audio
    await new Promise((r) => setTimeout(r, 35));
    assert.equal(c.state, 'source-lost');
    assert.equal(statuses.at(-1)?.detected_by, 'client');
    es().emit('audio-frame', frameJson(2), 'frame-2');
    assert.equal(c.state, 'live');
    c.disconnect();
});

test('reconnects with backoff, resuming after the last frame; gives up after the limit', async () => {
    const c = makeClient({ maxReconnectAttempts: 3 });
    const disconnects = [];
    c.onDisconnect = (d) => disconnects.push(d.willReconnect);
    const p = c.connect();
    es().emit('message', 'connected', '1');
    await p;
    es().emit('audio-frame', frameJson(5), 'frame-5');
    es().fail();
    assert.equal(c.state, 'reconnecting');
    assert.ok(es().closed, 'the failed EventSource is closed (no browser auto-retry)');
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(FakeEventSource.all.length, 2, 'one new attempt after the backoff');
    assert.match(es().url, /last_event_id=frame-5/);
    es().emit('message', 'connected', '2');
    assert.equal(c.state, 'live');
    assert.equal(c.getStats().reconnects, 1);
    // the server restarted: numbering starts again, not duplicates
    es().emit('audio-frame', frameJson(0), 'frame-0');
    assert.equal(c.getStats().duplicateFrames, 0);
    assert.equal(c.getStats().framesReceived, 2);
    // now fail repeatedly: attempts 2 and 3, then give up
    for (let i = 0; i < 3; i++) {
        es().fail();
        await new Promise((r) => setTimeout(r, 60));
    }
    es().fail();
    assert.equal(c.state, 'failed');
    assert.deepEqual(disconnects, [true, true, false]);
    c.disconnect();
});

test('backoff grows exponentially with jitter and is capped', () => {
    const c = makeClient({ reconnectBaseMs: 100, reconnectMaxMs: 1000 });
    for (let n = 0; n < 8; n++) {
        const d = c.backoffMs(n);
        const nominal = Math.min(1000, 100 * 2 ** n);
        assert.ok(d >= nominal / 2 && d <= nominal, `attempt ${n}: ${d} in [${nominal / 2}, ${nominal}]`);
    }
    const spread = new Set(Array.from({ length: 20 }, () => Math.round(c.backoffMs(3))));
    assert.ok(spread.size > 5, 'jittered');
});

test('sendCommand: Bearer token, JSON body, errors carry the status', async () => {
    /** @type {any[]} */
    const calls = [];
    const fakeFetch = async (url, init) => {
        calls.push({ url, init });
        const body = JSON.parse(init.body);
        if (body.action === 'explode') return new Response(JSON.stringify({ error: 'unknown_action', message: 'no' }), { status: 400 });
        return new Response(JSON.stringify({ success: true, message: 'stream paused', timestamp: 1 }), { status: 200 });
    };
    const c = makeClient({ fetch: fakeFetch, streamId: 'radio one' });
    const ok = await c.sendCommand('pause');
    assert.equal(ok.success, true);
    assert.equal(calls[0].url, 'http://ondes.test/api/streams/radio%20one/control');
    assert.equal(calls[0].init.headers.Authorization, 'Bearer tok');
    assert.deepEqual(JSON.parse(calls[0].init.body), { action: 'pause' });
    await c.sendCommand('adjust_quality', { quality: 0.5 });
    assert.deepEqual(JSON.parse(calls[1].init.body), { action: 'adjust_quality', params: { quality: 0.5 } });
    await assert.rejects(c.sendCommand('explode'), (e) => e.name === 'OndesApiError' && e.status === 400 && e.code === 'unknown_action');
});
