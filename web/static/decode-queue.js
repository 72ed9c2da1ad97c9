// @ts-check
/**
 * Decoding for the WebSocket source: the frames of binary audio messages (`wire.js`) in,
 * PCM frames out, in sequence.
 *
 * Opus frames are decoded by a WebCodecs `AudioDecoder` ({codec: 'opus', sampleRate,
 * numberOfChannels}; raw Opus packets need no description), one `EncodedAudioChunk` per
 * frame; PCM16 and f32 frames are converted at once. Decoding is asynchronous and PCM is
 * not, so every frame waits in arrival order and leaves only when it and all before it are
 * ready — a switch between Opus and PCM cannot reorder frames. Status notices wait in the
 * same queue, so that a notice reaches the Player after the frames that arrived before it
 * (`lagged` right before the first frame after the skip, `paused` after the last one).
 *
 * An empty Opus frame is a packet the server does not have, and a frame the decoder fails
 * on is lost too: both are concealed here (`concealment.js`) and counted.
 */

import { nowMs } from './client.js';
import { pcm16ToPlanar, f32ToPlanar } from './wire.js';
import { concealFrame, fadeIn } from './concealment.js';

/** @typedef {import('./player-source.js').DecodedFrame} DecodedFrame */
/** @typedef {import('./player-source.js').SourceNotice} SourceNotice */

/**
 * One frame on its way from the socket to the player.
 * @typedef {object} PendingFrame
 * @property {number} seq
 * @property {number} captureMs
 * @property {number} receivedMs
 * @property {number} frameMs
 * @property {number} sampleRate
 * @property {number} channels
 * @property {boolean} conceal             a missing packet: synthesise it
 * @property {number} [ts]                 the chunk timestamp given to the decoder (µs)
 * @property {number} [decodedMs]
 * @property {Float32Array[]|null} samples
 */

/**
 * What waits in the queue: a frame, or a status notice that must reach the Player after
 * the frames that arrived before it.
 * @typedef {PendingFrame | {notice: SourceNotice}} PendingItem
 */

/**
 * @typedef {object} DecodeQueueOutput
 * @property {(frame: DecodedFrame) => void} frame
 * @property {(notice: SourceNotice) => void} notice
 * @property {(error: {type: string, message: string}) => void} error
 */

export class DecodeQueue {
    /**
     * @param {DecodeQueueOutput} output
     * @param {{fadeInMs?: number}} [options]  fade-in of the first frame after a concealed one (default 5)
     */
    constructor(output, options = {}) {
        this.output = output;
        this.fadeInMs = options.fadeInMs ?? 5;
        /** @type {AudioDecoder|null} */
        this.decoder = null;
        this.decoderConfig = '';
        /** @type {PendingItem[]} in arrival order */
        this.queue = [];
        /** @type {PendingFrame[]} Opus frames given to the decoder, not yet decoded */
        this.awaiting = [];
        /** @type {Float32Array[]|null} the last frame played, for concealment */
        this.lastSamples = null;
        this.concealRun = 0;
        this.counters = { concealedFrames: 0, concealedMs: 0, decodeErrors: 0 };
    }

    /**
     * A configured Opus decoder for this layout; false when this browser cannot decode it.
     * @param {number} sampleRate
     * @param {number} channels
     */
    configureOpus(sampleRate, channels) {
        const key = `${sampleRate}/${channels}`;
        if (this.decoder && this.decoder.state === 'configured' && this.decoderConfig === key) return true;
        if (typeof globalThis.AudioDecoder !== 'function') return false;
        try {
            if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
            const d = new AudioDecoder({
                output: (data) => this.onDecoded(d, data),
                error: (e) => this.onDecoderError(d, e),
            });
            d.configure({ codec: 'opus', sampleRate, numberOfChannels: channels });
            this.decoder = d;
            this.decoderConfig = key;
            return true;
        } catch {
            this.decoder = null;
            this.counters.decodeErrors++;
            return false;
        }
    }

    /**
     * Forgets frames in flight (a new connection). `close` also closes the decoder.
     * @param {boolean} close
     */
    reset(close) {
        this.queue = [];
        this.awaiting = [];
        this.concealRun = 0;
        this.lastSamples = null;
        if (this.decoder && this.decoder.state !== 'closed') {
            try {
                if (close) this.decoder.close();
                else this.decoder.reset(); // back to unconfigured: configureOpus configures it again
            } catch {
                // already closed by an error
            }
        }
        if (close) this.decoder = null;
    }

    /**
     * Queues the frames of an audio message (decoded by `wire.js`) and hands on what is ready.
     * @param {import('./wire.js').AudioMessage} m
     * @param {number} receivedMs  when the message arrived
     */
    pushMessage(m, receivedMs) {
        const h = m.header;
        const frameMs = h.frameUs / 1000;
        for (let i = 0; i < m.frames.length; i++) {
            const data = m.frames[i];
            /** @type {PendingFrame} */
            const f = {
                seq: h.firstSeq + i,
                captureMs: h.captureUs / 1000 + i * frameMs,
                receivedMs,
                frameMs,
                sampleRate: h.sampleRate,
                channels: h.channels,
                conceal: data.length === 0,
                samples: null,
            };
            if (!f.conceal) {
                if (h.codec === 'opus') {
                    if (this.configureOpus(h.sampleRate, h.channels) && this.decoder) {
                        f.ts = f.seq * h.frameUs;
                        this.awaiting.push(f);
                        try {
                            this.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: f.ts, duration: h.frameUs, data }));
                        } catch {
                            this.awaiting.pop();
                            f.conceal = true;
                            this.counters.decodeErrors++;
                        }
                    } else {
                        f.conceal = true;
                    }
                } else {
                    f.samples = h.codec === 'pcm16' ? pcm16ToPlanar(data, h.channels) : f32ToPlanar(data, h.channels);
                    f.decodedMs = receivedMs;
                }
            }
            this.queue.push(f);
        }
        this.drain();
    }

    /**
     * Queues a notice behind the frames that arrived before it.
     * @param {SourceNotice} notice
     */
    pushNotice(notice) {
        this.queue.push({ notice });
        this.drain();
    }

    /** @private */
    onDecoded(/** @type {AudioDecoder} */ d, /** @type {AudioData} */ data) {
        try {
            if (d !== this.decoder || this.awaiting.length === 0) return;
            // outputs come in decode order; match by timestamp where the browser keeps it
            let idx = this.awaiting.findIndex((f) => f.ts === data.timestamp);
            if (idx < 0) idx = 0;
            for (const lost of this.awaiting.splice(0, idx)) lost.conceal = true;
            const f = /** @type {PendingFrame} */ (this.awaiting.shift());
            const n = data.numberOfFrames;
            /** @type {Float32Array[]} */
            const samples = [];
            for (let c = 0; c < data.numberOfChannels; c++) {
                const plane = new Float32Array(n);
                data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
                samples.push(plane);
            }
            f.samples = samples;
            f.sampleRate = data.sampleRate;
            f.decodedMs = nowMs();
        } finally {
            data.close();
        }
        this.drain();
    }

    /** @private */
    onDecoderError(/** @type {AudioDecoder} */ d, /** @type {unknown} */ e) {
        if (d !== this.decoder) return;
        this.counters.decodeErrors++;
        this.decoder = null; // an errored decoder is closed; the next packet makes a new one
        for (const f of this.awaiting) f.conceal = true;
        this.awaiting = [];
        this.output.error({ type: 'decoder', message: `Opus decoding failed: ${e instanceof Error ? e.message : e}` });
        this.drain();
    }

    /** Hands on every frame that is ready, and the notices between them, in sequence. @private */
    drain() {
        while (this.queue.length) {
            const f = this.queue[0];
            if ('notice' in f) {
                this.queue.shift();
                this.output.notice(f.notice);
                continue;
            }
            if (!f.conceal && !f.samples) break;
            this.queue.shift();
            let samples;
            if (f.conceal) {
                const n = Math.round((f.sampleRate * f.frameMs) / 1000);
                samples = concealFrame(this.lastSamples, ++this.concealRun, n, f.channels);
                this.counters.concealedFrames++;
                this.counters.concealedMs += f.frameMs;
            } else {
                samples = /** @type {Float32Array[]} */ (f.samples);
                if (this.concealRun > 0) fadeIn(samples, Math.round((f.sampleRate * this.fadeInMs) / 1000));
                this.concealRun = 0;
                this.lastSamples = samples;
            }
            this.output.frame({ seq: f.seq, captureMs: f.captureMs, sampleRate: f.sampleRate, samples, receivedMs: f.receivedMs, decodedMs: f.decodedMs ?? nowMs() });
        }
    }
}
