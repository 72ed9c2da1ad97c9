// @ts-check
/**
 * The binary WebSocket audio message of protocol v1 (docs/protocol.md): the JS mirror of
 * `crates/ondes-core/src/proto/audio.rs`. Pure functions over bytes: runs in the browser and in
 * Node (`tests/wire.test.mjs` checks it against the byte layouts of the protocol document).
 *
 * ```text
 * offset size  field
 *  0     u8    version (= 1)
 *  1     u8    codec (low 4 bits: 0 pcm16 s16le, 1 opus, 2 f32le) | channels (high 4 bits)
 *  2     u8    frame count N (1..=255)
 *  3     u8    frame duration in 0.5 ms units (5 = 2.5 ms … 120 = 60 ms)
 *  4     u32   sample rate (Hz)
 *  8     u32   sequence number of the first frame (low 32 bits)
 * 12     i64   capture time of the first frame, µs since the Unix epoch
 * 20     N × { u16 length, length bytes }
 * ```
 *
 * All integers little-endian. Frame `i` has sequence `firstSeq + i` and capture time
 * `captureUs + i × frameUs`. An empty Opus frame is a packet the server does not have
 * (conceal it). Sequence numbers and capture times are JS numbers: exact up to 2⁵³, i.e.
 * for 5.7 million years of 20 ms frames, and capture µs until the year 2255.
 */

export const HEADER_LEN = 20;
export const VERSION = 1;
/** @type {Record<number, 'pcm16'|'opus'|'f32'>} */
export const CODECS = { 0: 'pcm16', 1: 'opus', 2: 'f32' };
export const CODEC_IDS = /** @type {const} */ ({ pcm16: 0, opus: 1, f32: 2 });

const TWO32 = 2 ** 32;

/** A message that does not follow the protocol. `code` names the rule it breaks. */
export class WireError extends Error {
    /**
     * @param {'short'|'version'|'codec'|'channels'|'frame_count'|'duration'|'truncated'|'trailing'|'frame_too_large'} code
     * @param {string} message
     */
    constructor(code, message) {
        super(message);
        this.name = 'WireError';
        this.code = code;
    }
}

/**
 * @typedef {object} AudioHeader
 * @property {'pcm16'|'opus'|'f32'} codec
 * @property {number} channels     1..=15
 * @property {number} frameCount   1..=255
 * @property {number} frameUs      frame duration (µs, a multiple of 500)
 * @property {number} sampleRate   Hz
 * @property {number} firstSeq     sequence number of the first frame, extended to 64 bits
 * @property {number} captureUs    capture time of the first frame (µs since the epoch)
 */

/**
 * @typedef {object} AudioMessage
 * @property {AudioHeader} header
 * @property {Uint8Array[]} frames  views into the message (no copies)
 */

/**
 * Extends a 32-bit sequence number to the value closest to `last` (the last full sequence
 * number seen), so that the wrap every 2³² frames is invisible (`proto::audio::extend_seq`).
 * @param {number} seq32
 * @param {number|null|undefined} last
 */
export function extendSeq(seq32, last) {
    if (last === null || last === undefined) return seq32;
    const base = last - (last % TWO32);
    // the candidate closest to `last`, the first one on a tie (as in the Rust code)
    let best = -1;
    for (const b of [base - TWO32, base, base + TWO32]) {
        const c = b + seq32;
        if (c >= 0 && (best < 0 || Math.abs(c - last) < Math.abs(best - last))) best = c;
    }
    return best;
}

/** @param {ArrayBuffer|ArrayBufferView} input */
function bytesOf(input) {
    if (input instanceof Uint8Array) return input;
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    return new Uint8Array(input);
}

/**
 * Decodes an audio message.
 * @param {ArrayBuffer|ArrayBufferView} input
 * @param {number|null} [lastSeq]  the last sequence number seen, to extend the 32-bit one
 * @returns {AudioMessage}
 * @throws {WireError}
 */
export function decodeAudio(input, lastSeq = null) {
    const msg = bytesOf(input);
    if (msg.length < HEADER_LEN) throw new WireError('short', `message is ${msg.length} bytes, shorter than the ${HEADER_LEN}-byte header`);
    if (msg[0] !== VERSION) throw new WireError('version', `unsupported protocol version ${msg[0]} (this client speaks version ${VERSION})`);
    const codec = CODECS[msg[1] & 0x0f];
    if (!codec) throw new WireError('codec', `unknown codec ${msg[1] & 0x0f}`);
    const channels = msg[1] >> 4;
    if (channels === 0) throw new WireError('channels', 'channels must be 1..=15, got 0');
    const count = msg[2];
    if (count === 0) throw new WireError('frame_count', 'frame count must be 1..=255, got 0');
    const frameUs = msg[3] * 500;
    if (frameUs === 0) throw new WireError('duration', 'frame duration 0 µs is not a multiple of 0.5 ms between 0.5 and 127.5 ms');
    const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    const sampleRate = dv.getUint32(4, true);
    const seq32 = dv.getUint32(8, true);
    const captureUs = Number(dv.getBigInt64(12, true));
    /** @type {Uint8Array[]} */
    const frames = [];
    let at = HEADER_LEN;
    for (let index = 0; index < count; index++) {
        if (msg.length < at + 2) throw new WireError('truncated', `frame ${index} claims 2 bytes but only ${msg.length - at} remain`);
        const len = dv.getUint16(at, true);
        at += 2;
        if (msg.length < at + len) throw new WireError('truncated', `frame ${index} claims ${len} bytes but only ${msg.length - at} remain`);
        frames.push(msg.subarray(at, at + len));
        at += len;
    }
    if (at !== msg.length) throw new WireError('trailing', `${msg.length - at} trailing bytes after the last frame`);
    return {
        header: { codec, channels, frameCount: count, frameUs, sampleRate, firstSeq: extendSeq(seq32, lastSeq), captureUs },
        frames,
    };
}

/**
 * Encodes an audio message (the JS client only receives, but tests and publishers in the
 * browser need the other direction). `frameCount` is taken from `frames`.
 * @param {Omit<AudioHeader, 'frameCount'> & {frameCount?: number}} header
 * @param {Uint8Array[]} frames
 * @returns {Uint8Array}
 * @throws {WireError}
 */
export function encodeAudio(header, frames) {
    if (frames.length === 0 || frames.length > 255) throw new WireError('frame_count', `frame count must be 1..=255, got ${frames.length}`);
    if (!(header.channels >= 1 && header.channels <= 15)) throw new WireError('channels', `channels must be 1..=15, got ${header.channels}`);
    if (!(header.frameUs > 0 && header.frameUs <= 127_500 && header.frameUs % 500 === 0)) {
        throw new WireError('duration', `frame duration ${header.frameUs} µs is not a multiple of 0.5 ms between 0.5 and 127.5 ms`);
    }
    const codecId = CODEC_IDS[header.codec];
    if (codecId === undefined) throw new WireError('codec', `unknown codec ${header.codec}`);
    let size = HEADER_LEN;
    frames.forEach((f, index) => {
        if (f.length > 0xffff) throw new WireError('frame_too_large', `frame ${index} is ${f.length} bytes, more than 65535`);
        size += 2 + f.length;
    });
    const out = new Uint8Array(size);
    const dv = new DataView(out.buffer);
    out[0] = VERSION;
    out[1] = codecId | (header.channels << 4);
    out[2] = frames.length;
    out[3] = header.frameUs / 500;
    dv.setUint32(4, header.sampleRate, true);
    dv.setUint32(8, header.firstSeq % TWO32, true);
    dv.setBigInt64(12, BigInt(Math.round(header.captureUs)), true);
    let at = HEADER_LEN;
    for (const f of frames) {
        dv.setUint16(at, f.length, true);
        out.set(f, at + 2);
        at += 2 + f.length;
    }
    return out;
}

/**
 * Interleaved s16le → planar floats in [-1, 1).
 * @param {Uint8Array} bytes
 * @param {number} channels
 * @returns {Float32Array[]}
 */
export function pcm16ToPlanar(bytes, channels) {
    const n = Math.floor(bytes.length / (2 * channels));
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = [];
    for (let c = 0; c < channels; c++) out.push(new Float32Array(n));
    for (let i = 0, at = 0; i < n; i++) {
        for (let c = 0; c < channels; c++, at += 2) out[c][i] = dv.getInt16(at, true) / 32768;
    }
    return out;
}

/**
 * Interleaved f32le → planar floats.
 * @param {Uint8Array} bytes
 * @param {number} channels
 * @returns {Float32Array[]}
 */
export function f32ToPlanar(bytes, channels) {
    const n = Math.floor(bytes.length / (4 * channels));
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = [];
    for (let c = 0; c < channels; c++) out.push(new Float32Array(n));
    for (let i = 0, at = 0; i < n; i++) {
        for (let c = 0; c < channels; c++, at += 4) out[c][i] = dv.getFloat32(at, true);
    }
    return out;
}
