// Unit tests of the JS wire decoder (web/static/wire.js) against the byte layout of
// docs/protocol.md (the same cases as crates/ondes-core/src/proto/audio.rs's tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAudio, encodeAudio, extendSeq, pcm16ToPlanar, f32ToPlanar, HEADER_LEN, WireError } from '../static/wire.js';

const CAPTURE_US = 1_763_700_000_123_456;

/** Little-endian bytes of an unsigned integer. */
function le(value, size) {
    const out = [];
    let v = BigInt(value);
    for (let i = 0; i < size; i++) {
        out.push(Number(v & 0xffn));
        v >>= 8n;
    }
    return out;
}

/** A message written out by hand, field by field, from the table in docs/protocol.md. */
function handMade({ version = 1, codec = 1, channels = 2, count, halfMs = 40, rate = 48000, seq32 = 2, captureUs = CAPTURE_US, frames }) {
    const bytes = [version, codec | (channels << 4), count ?? frames.length, halfMs, ...le(rate, 4), ...le(seq32, 4), ...le(captureUs, 8)];
    for (const f of frames) bytes.push(...le(f.length, 2), ...f);
    return new Uint8Array(bytes);
}

test('decodes the exact layout of docs/protocol.md', () => {
    const msg = handMade({ frames: [[0xaa, 0xbb]] });
    // the bytes the Rust test `exact_layout` checks
    assert.deepEqual([...msg.subarray(0, 4)], [1, 0x21, 1, 40]);
    assert.equal(msg.length, HEADER_LEN + 4);
    const m = decodeAudio(msg);
    assert.deepEqual(m.header, { codec: 'opus', channels: 2, frameCount: 1, frameUs: 20000, sampleRate: 48000, firstSeq: 2, captureUs: CAPTURE_US });
    assert.equal(m.frames.length, 1);
    assert.deepEqual([...m.frames[0]], [0xaa, 0xbb]);
});

test('encodes byte for byte what the protocol document specifies', () => {
    const header = { codec: /** @type {const} */ ('opus'), channels: 2, frameUs: 20000, sampleRate: 48000, firstSeq: 2, captureUs: CAPTURE_US };
    assert.deepEqual([...encodeAudio(header, [new Uint8Array([0xaa, 0xbb])])], [...handMade({ frames: [[0xaa, 0xbb]] })]);
});

test('several frames, an empty one (a missing Opus packet) among them; codecs and durations', () => {
    const big = new Array(300).fill(7);
    const msg = handMade({ frames: [[0x61, 0x62, 0x63], [], big], seq32: 5 });
    const m = decodeAudio(msg.buffer); // an ArrayBuffer, as a WebSocket delivers it
    assert.equal(m.header.frameCount, 3);
    assert.deepEqual(
        m.frames.map((f) => f.length),
        [3, 0, 300],
    );
    assert.deepEqual([...m.frames[2]], big);
    // frames are views, not copies
    assert.equal(m.frames[0].buffer, msg.buffer);

    assert.equal(decodeAudio(handMade({ codec: 0, channels: 1, frames: [[0, 0]] })).header.codec, 'pcm16');
    assert.equal(decodeAudio(handMade({ codec: 2, frames: [[0, 0, 0, 0]] })).header.codec, 'f32');
    assert.equal(decodeAudio(handMade({ codec: 0, channels: 1, frames: [[0, 0]] })).header.channels, 1);
    // 0.5 ms units: 5 = 2.5 ms, 120 = 60 ms
    assert.equal(decodeAudio(handMade({ halfMs: 5, frames: [[1]] })).header.frameUs, 2500);
    assert.equal(decodeAudio(handMade({ halfMs: 120, frames: [[1]] })).header.frameUs, 60000);
    // a Uint8Array view with an offset into a larger buffer
    const padded = new Uint8Array(msg.length + 8);
    padded.set(msg, 8);
    assert.deepEqual(decodeAudio(padded.subarray(8)).header, m.header);
});

test('capture times before 1970 and far in the future survive (i64 µs)', () => {
    for (const captureUs of [0, -1_000_000, 2 ** 52, 4_102_444_800_000_000]) {
        assert.equal(decodeAudio(handMade({ captureUs, frames: [[1]] })).header.captureUs, captureUs);
    }
});

test('round trip through encodeAudio', () => {
    const header = { codec: /** @type {const} */ ('pcm16'), channels: 2, frameUs: 10000, sampleRate: 44100, firstSeq: 2 ** 32 + 9, captureUs: CAPTURE_US };
    const frames = [new Uint8Array([1, 2, 3, 4]), new Uint8Array(0), new Uint8Array(1000).fill(9)];
    const m = decodeAudio(encodeAudio(header, frames), 2 ** 32 + 1);
    assert.deepEqual(m.header, { ...header, frameCount: 3 });
    assert.deepEqual(
        m.frames.map((f) => [...f]),
        frames.map((f) => [...f]),
    );
});

test('rejects malformed messages with the rule they break', () => {
    const ok = handMade({ frames: [[0x61, 0x62, 0x63, 0x64]] });
    const code = (/** @type {Uint8Array} */ b) => {
        try {
            decodeAudio(b);
        } catch (e) {
            assert.ok(e instanceof WireError, `a WireError: ${e}`);
            return e.code;
        }
        return 'accepted';
    };
    assert.equal(code(ok), 'accepted');
    assert.equal(code(ok.subarray(0, 10)), 'short');
    assert.equal(code(new Uint8Array(0)), 'short');
    assert.equal(code(handMade({ version: 2, frames: [[1]] })), 'version');
    assert.equal(code(handMade({ codec: 7, frames: [[1]] })), 'codec');
    assert.equal(code(handMade({ channels: 0, frames: [[1]] })), 'channels');
    assert.equal(code(handMade({ count: 0, frames: [] })), 'frame_count');
    assert.equal(code(handMade({ halfMs: 0, frames: [[1]] })), 'duration');
    assert.equal(code(ok.subarray(0, ok.length - 1)), 'truncated'); // frame body cut
    assert.equal(code(ok.subarray(0, HEADER_LEN + 1)), 'truncated'); // length prefix cut
    assert.equal(code(handMade({ count: 2, frames: [[1]] })), 'truncated'); // fewer frames than announced
    assert.equal(code(new Uint8Array([...ok, 0])), 'trailing');
    const h = { codec: /** @type {const} */ ('opus'), channels: 2, frameUs: 20000, sampleRate: 48000, firstSeq: 0, captureUs: 0 };
    assert.throws(() => encodeAudio(h, []), { code: 'frame_count' });
    assert.throws(() => encodeAudio({ ...h, channels: 16 }, [new Uint8Array(1)]), { code: 'channels' });
    assert.throws(() => encodeAudio({ ...h, frameUs: 20100 }, [new Uint8Array(1)]), { code: 'duration' });
    assert.throws(() => encodeAudio(h, [new Uint8Array(65536)]), { code: 'frame_too_large' });
});

test('sequence numbers extend across the 32-bit wrap like proto::audio::extend_seq', () => {
    const TWO32 = 2 ** 32;
    assert.equal(extendSeq(5, null), 5);
    assert.equal(extendSeq(6, 5), 6);
    // the Rust round-trip case: 0x1_0000_0005 from its low bits and a nearby last value
    assert.equal(extendSeq(5, TWO32 + 1), TWO32 + 5);
    // wrap forward: last just below 2^32, new low bits small
    assert.equal(extendSeq(3, TWO32 - 2), TWO32 + 3);
    // a late frame from before the wrap
    assert.equal(extendSeq(TWO32 - 1, TWO32 + 2), TWO32 - 1);
    // never negative at the start of the numbering
    assert.equal(extendSeq(TWO32 - 1, 3), TWO32 - 1);
    // through decodeAudio: first_seq travels modulo 2^32
    const msg = handMade({ seq32: 1, frames: [[1]] });
    assert.equal(decodeAudio(msg, 3 * TWO32 - 1).header.firstSeq, 3 * TWO32 + 1);
});

test('PCM payloads to planar floats', () => {
    // interleaved s16le: L0 R0 L1 R1
    const pcm = new Uint8Array([...le(0x4000, 2), ...le(0x8000, 2), ...le(0x7fff, 2), ...le(0, 2)]);
    const [l, r] = pcm16ToPlanar(pcm, 2);
    assert.deepEqual([...l], [0.5, 32767 / 32768]);
    assert.deepEqual([...r], [-1, 0]);
    const f = new Uint8Array(new Float32Array([0.25, -0.5, 1, 0]).buffer);
    const [a, b] = f32ToPlanar(f, 2);
    assert.deepEqual([...a], [0.25, 1]);
    assert.deepEqual([...b], [-0.5, 0]);
    // an odd byte offset (a frame view inside a message) is fine
    const shifted = new Uint8Array(pcm.length + 1);
    shifted.set(pcm, 1);
    assert.deepEqual(pcm16ToPlanar(shifted.subarray(1), 2), [l, r]);
});
