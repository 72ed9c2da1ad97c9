// Unit tests of the JS mirror of the JSON control messages (web/static/protocol.js): every
// example message of docs/protocol.md's listener section is read as the server means it,
// malformed messages are rejected with a reason, and what a listener sends has exactly the
// documented fields. The SSE client's use of it is in client-unit.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WEB } from './helpers.mjs';
import {
    MSG,
    QUALITY_LEVELS,
    STATUS,
    ERROR,
    ACTION,
    PROTOCOL_VERSION,
    parseServerMessage,
    validateServerMessage,
    parseSseStatus,
    parseJitterAdvice,
    pingMessage,
    reportMessage,
    controlCommand,
    CODECS,
} from '../static/protocol.js';
import { VERSION as WIRE_VERSION, CODEC_IDS } from '../static/wire.js';

/** The JSON lines of the code blocks of docs/protocol.md's listener section: [server → client, client → server]. */
function listenerExamples() {
    const doc = fs.readFileSync(path.join(WEB, '..', 'docs', 'protocol.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Listener'), doc.indexOf('## Publisher'));
    const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1].trim().split('\n'));
    assert.equal(blocks.length, 2, 'two example blocks in the listener section');
    return blocks;
}

test('every server message of docs/protocol.md parses, typed as the document says', () => {
    const [fromServer] = listenerExamples();
    assert.ok(fromServer.length >= 8);
    const seen = new Set();
    for (const line of fromServer) {
        const r = parseServerMessage(line);
        assert.ok('message' in r, `${line}: ${r.error}`);
        const raw = JSON.parse(line);
        assert.equal(r.message.type, raw.type);
        assert.ok(Object.values(MSG).includes(raw.type), `${raw.type} is in MSG`);
        seen.add(raw.type);
        if (raw.type === MSG.STATUS) {
            assert.ok(Object.values(STATUS).includes(raw.status), `${raw.status} is in STATUS`);
            assert.equal(r.message.status, raw.status);
        }
        if (raw.type === MSG.INFO) {
            assert.equal(r.message.protocol, PROTOCOL_VERSION);
            assert.equal(r.message.codec, 'opus');
            assert.deepEqual(r.message.jitter, { target_ms: 60, max_ms: 2000, rtts: 3 });
            assert.equal(r.message.connection_id, '17', 'unvalidated fields pass through');
        }
        if (raw.type === MSG.RUNG) assert.equal(r.message.jitter === null, raw.jitter === undefined, 'a rung without advice keeps the bounds (jitter null)');
        if (raw.type === MSG.ERROR) assert.equal(r.message.error, ERROR.STREAM_ENDED);
    }
    assert.deepEqual([...seen].sort(), [MSG.ERROR, MSG.INFO, MSG.PONG, MSG.RUNG, MSG.STATUS].sort());
    assert.equal(PROTOCOL_VERSION, WIRE_VERSION, 'the JSON and binary halves are one protocol version');
    assert.deepEqual([...CODECS].sort(), Object.keys(CODEC_IDS).sort(), 'info names the codecs of the binary message');
});

test('what a listener sends has exactly the fields of docs/protocol.md', () => {
    const [, fromClient] = listenerExamples();
    const doc = Object.fromEntries(fromClient.map((l) => JSON.parse(l)).map((m) => [m.type, m]));
    assert.deepEqual(Object.keys(doc).sort(), [MSG.PING, MSG.REPORT].sort());

    const ping = pingMessage(7, 1763700000123.456);
    assert.deepEqual(ping, { type: 'ping', id: 7, client_ts_us: 1763700000123456 });
    assert.deepEqual(Object.keys(ping).sort(), Object.keys(doc.ping).sort());

    const { type: _t, ...figures } = doc.report;
    const { rtt_ms: rtt, ...withoutRtt } = figures;
    const report = reportMessage(withoutRtt, rtt);
    assert.deepEqual(report, doc.report);
    assert.deepEqual(Object.keys(report).sort(), Object.keys(doc.report).sort());
    // the RTT to 0.01 ms; none when not measured (JSON has no "unknown" number)
    assert.equal(reportMessage(withoutRtt, 1.23456).rtt_ms, 1.23);
    assert.equal('rtt_ms' in reportMessage(withoutRtt, null), false);
    assert.equal('rtt_ms' in reportMessage(withoutRtt), false);
    assert.equal(reportMessage({ ...withoutRtt, type: 'other' }).type, 'report');
    assert.equal(JSON.stringify(reportMessage(withoutRtt, 2)), JSON.stringify({ ...withoutRtt, type: 'report', rtt_ms: 2 }));

    assert.deepEqual(controlCommand(ACTION.PAUSE), { action: 'pause' });
    assert.deepEqual(controlCommand(ACTION.ADJUST_QUALITY, { quality: 0.5 }), { action: 'adjust_quality', params: { quality: 0.5 } });
});

test('malformed server messages are rejected with a reason', () => {
    const info = { type: 'info', protocol: 1, codec: 'opus', rung: '64', sample_rate: 48000, channels: 2, frame_ms: 20, batch: 4 };
    assert.ok('message' in validateServerMessage(info));
    const bad = [
        ['not json', /not JSON/],
        ['[1, 2]', /not a JSON object/],
        ['null', /not a JSON object/],
        ['{"status":"paused"}', /no message type/],
        [JSON.stringify({ ...info, codec: 'mp3' }), /unknown codec "mp3"/],
        [JSON.stringify({ ...info, sample_rate: -1 }), /sample_rate/],
        [JSON.stringify({ ...info, sample_rate: '48000' }), /sample_rate/],
        [JSON.stringify({ ...info, channels: 16 }), /channels/],
        [JSON.stringify({ ...info, frame_ms: 0 }), /frame_ms/],
        [JSON.stringify({ ...info, batch: 1.5 }), /batch/],
        [JSON.stringify({ ...info, protocol: 'one' }), /protocol/],
        [JSON.stringify({ ...info, rung: null }), /rung/],
        ['{"type":"status"}', /status is not a string/],
        ['{"type":"status","status":""}', /status is not a string/],
        ['{"type":"status","status":"lagged","skipped_frames":-3}', /skipped_frames/],
        ['{"type":"status","status":"resumed","skipped_while_paused":"12"}', /skipped_while_paused/],
        ['{"type":"rung","batch":4}', /rung is not a string/],
        ['{"type":"rung","rung":"32","batch":0.5}', /batch/],
        ['{"type":"pong","client_ts_us":1}', /id is not a number/],
        ['{"type":"pong","id":1,"server_ts_us":"now"}', /server_ts_us/],
        ['{"type":"error","message":"no code"}', /no error code/],
    ];
    for (const [text, reason] of bad) {
        const r = parseServerMessage(text);
        assert.ok('error' in r, `rejected: ${text}`);
        assert.match(r.error, reason, text);
    }
});

test('messages are normalised: rung names are strings, unusable advice is null, old status spellings are current', () => {
    const rung = parseServerMessage('{"type":"rung","rung":32,"jitter":{"target_ms":60,"max_ms":"x","rtts":3}}');
    assert.ok('message' in rung);
    assert.equal(rung.message.rung, '32');
    assert.equal(rung.message.jitter, null);
    const info = parseServerMessage('{"type":"info","codec":"pcm16","rung":"pcm16","sample_rate":8000,"channels":1,"frame_ms":2.5}');
    assert.ok('message' in info, 'protocol, batch and jitter are optional (an older server)');
    assert.equal(info.message.jitter, null);
    const lost = parseServerMessage('{"type":"status","status":"source_lost"}');
    assert.ok('message' in lost);
    assert.equal(lost.message.status, STATUS.SOURCE_LOST);
    // a newer server's message: passed on untouched, for the client to ignore
    const other = parseServerMessage('{"type":"hello","x":1}');
    assert.deepEqual(other, { message: { type: 'hello', x: 1 } });
    // advice: non-negative finite numbers
    assert.deepEqual(parseJitterAdvice({ target_ms: 0, max_ms: 2000, rtts: 0, extra: 1 }), { target_ms: 0, max_ms: 2000, rtts: 0 });
    assert.equal(parseJitterAdvice({ target_ms: -1, max_ms: 2000, rtts: 3 }), null);
    assert.equal(parseJitterAdvice({ target_ms: Infinity, max_ms: 2000, rtts: 3 }), null);
    assert.equal(parseJitterAdvice('60'), null);
});

test('the named quality levels are the ones docs/quality.md lists, lowest first', () => {
    // the first table of the page is the levels'
    const doc = fs.readFileSync(path.join(WEB, '..', 'docs', 'quality.md'), 'utf8').split('\n## ')[0];
    const rows = [...doc.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(rows, [...QUALITY_LEVELS]);
});

test('SSE status events: JSON bodies without type, a bare word from an older server, malformed ones rejected', () => {
    assert.deepEqual(parseSseStatus('{"status":"gap","from_frame":12,"missed_frames":null,"message":"unknown Last-Event-ID"}'), {
        message: { status: STATUS.GAP, from_frame: 12, missed_frames: null, message: 'unknown Last-Event-ID' },
    });
    assert.deepEqual(parseSseStatus('{"status":"quality","quality":0.5,"sample_rate":24000}').message, { status: STATUS.QUALITY, quality: 0.5, sample_rate: 24000 });
    assert.deepEqual(parseSseStatus('paused'), { message: { status: STATUS.PAUSED } });
    assert.equal(parseSseStatus('source_restored').message.status, STATUS.SOURCE_RESTORED);
    assert.match(parseSseStatus('{"status":7}').error, /status is not a string/);
    assert.match(parseSseStatus('{"status":"quality","quality":"high"}').error, /quality/);
    // a cap set as a named level carries its name beside the share of the rate
    assert.deepEqual(parseSseStatus('{"status":"quality","quality":0.25,"sample_rate":12000,"level":"low"}').message, {
        status: STATUS.QUALITY, quality: 0.25, sample_rate: 12000, level: 'low',
    });
    assert.match(parseSseStatus('{"status":"quality","quality":0.25,"level":3}').error, /level/);
    assert.match(parseSseStatus('[]').error, /status is not a string/);
});
