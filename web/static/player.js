// @ts-check
/**
 * Player: plays an ondes stream with low latency in the browser.
 *
 *   source (network + decoding) ──DecodedFrame──▶ Player (resample if needed)
 *        ──postMessage──▶ AudioWorklet `worklet.js` (adaptive JitterBuffer) ──▶ speakers
 *                                                   └──stats (4/s)──▶ Player.getStats()
 *
 * The source is pluggable ({@link PlayerSource}). Today there is one:
 * {@link SsePcm16Source}, SSE with `format=pcm16` (base64 s16le, decoded by the client).
 *
 * TODO(ws-opus): add `WsOpusSource` for `GET /api/streams/{id}/ws` (protocol v1, see
 * docs/protocol.md; the Rust codec is crates/ondes-core/src/wire.rs): `binaryType =
 * 'arraybuffer'`; parse the 20-byte header (version, codec|channels, frame count,
 * duration in 0.5 ms, sample rate, first seq mod 2³² — extend to 64 bits like
 * `wire::extend_seq` — and the first capture µs) and the u16-length-prefixed frames;
 * decode Opus with WebCodecs `AudioDecoder` ({codec: 'opus', sampleRate, numberOfChannels}),
 * one `EncodedAudioChunk` per frame, keeping seq/capture per chunk (timestamp = capture µs);
 * pcm16 frames decode directly. Emit one DecodedFrame per frame. Handle the JSON text
 * messages (`info`, `status` — same statuses as SSE —, `rung`, `pong`, `error`) and implement
 * `sendReport(report)` as the protocol's `{"type":"report", …}` text message; the
 * {@link PlayerReport} fields already match it. Fall back to SsePcm16Source when
 * `AudioDecoder` or Opus support is missing (`AudioDecoder.isConfigSupported`) or the
 * WebSocket fails. The Player already calls `source.sendReport(report)` every second.
 */

import { AudioStreamClient } from './client.js';

/**
 * @typedef {object} DecodedFrame
 * @property {number} seq            frame number
 * @property {number} captureMs      capture time of the first sample (ms since the epoch)
 * @property {number} sampleRate
 * @property {Float32Array[]} samples  planar, one array per channel
 */

/**
 * @typedef {object} PlayerSink
 * @property {(frame: DecodedFrame) => void} frame
 * @property {(status: {status: string, [k: string]: unknown}) => void} status
 * @property {(state: string) => void} state     the connection state (client states)
 * @property {(error: {type: string, message: string}) => void} error
 */

/**
 * A way to get decoded audio frames from the server.
 * @typedef {object} PlayerSource
 * @property {string} name
 * @property {(sink: PlayerSink) => Promise<void>} start
 * @property {() => void} stop
 * @property {(report: PlayerReport) => void} [sendReport]  tell the server how playout goes
 */

/**
 * What the player reports; the fields of the WebSocket protocol's `report` message
 * (docs/protocol.md), which a WebSocket source sends to the server about once a second.
 * @typedef {object} PlayerReport
 * @property {'report'} type
 * @property {number} buffer_ms        audio queued in the jitter buffer
 * @property {number} target_ms        the jitter buffer's target
 * @property {number} underruns        since playing started
 * @property {number} concealed_ms     audio synthesised instead of received
 * @property {number} late_frames      frames that came after their turn (dropped)
 * @property {number} lost_frames      frames never received
 * @property {number} received_frames
 * @property {number|null} [latency_ms]  capture → speaker, when known (extra field)
 * @property {number} [rtt_ms]         filled in by a source that measures it (ping/pong)
 */

/** SSE `format=pcm16` through {@link AudioStreamClient}. */
export class SsePcm16Source {
    /**
     * @param {string} baseUrl
     * @param {string|null} token
     * @param {string} streamId
     */
    constructor(baseUrl, token, streamId) {
        this.name = 'sse-pcm16';
        this.client = new AudioStreamClient(baseUrl, token, { streamId, format: 'pcm16', historySize: 4, statsIntervalMs: 0 });
    }

    /** @param {PlayerSink} sink */
    async start(sink) {
        const c = this.client;
        c.onFrame = (f) =>
            sink.frame({
                seq: f.frame_number,
                captureMs: f.capture_us !== undefined ? f.capture_us / 1000 : f.timestamp,
                sampleRate: f.sample_rate,
                samples: [/** @type {Float32Array} */ (f.channel_a), /** @type {Float32Array} */ (f.channel_b)],
            });
        c.onStatus = (s) => sink.status(s);
        c.onStateChange = (s) => sink.state(s);
        c.onError = (e) => sink.error(e);
        await c.connect();
    }

    stop() {
        this.client.disconnect();
    }
}

/** Streaming linear-interpolation resampler (used only when the stream's rate changes). */
export class LinearResampler {
    constructor() {
        this.phase = 0;
        /** @type {number[]} last input sample per channel */
        this.last = [];
    }

    /**
     * @param {Float32Array[]} input planar
     * @param {number} inRate
     * @param {number} outRate
     * @returns {Float32Array[]}
     */
    process(input, inRate, outRate) {
        if (inRate === outRate) {
            this.phase = 0;
            this.last = input.map((x) => x[x.length - 1] ?? 0);
            return input;
        }
        const step = inRate / outRate;
        const n = input[0].length;
        // positions are relative to the previous block's last sample (index -1)
        let p = this.phase;
        const count = Math.max(0, Math.floor((n - 1 - p) / step) + 1);
        const out = input.map(() => new Float32Array(count));
        for (let c = 0; c < input.length; c++) {
            const x = input[c];
            const prev = this.last[c] ?? x[0];
            let q = p;
            for (let i = 0; i < count; i++) {
                const i0 = Math.floor(q);
                const f = q - i0;
                const a = i0 < 0 ? prev : x[i0];
                const b = x[Math.min(n - 1, i0 + 1)];
                out[c][i] = a + (b - a) * f;
                q += step;
            }
        }
        p += count * step;
        this.phase = p - n;
        this.last = input.map((x) => x[n - 1]);
        return out;
    }
}

/**
 * @typedef {object} PlayerOptions
 * @property {string} [streamId]      default "main"
 * @property {string|null} [token]
 * @property {number} [sampleRate]    the stream's rate (asked from /api/streams when missing)
 * @property {number} [frameMs]       the stream's frame duration (idem)
 * @property {number} [channels]      output channels (default 2)
 * @property {PlayerSource} [source]  default: SsePcm16Source
 * @property {string|URL} [workletUrl]  default: worklet.js next to this module
 * @property {import('./jitter-buffer.js').JitterBufferOptions|Record<string, number>} [jitter]  jitter buffer tuning
 * @property {number} [volume]        0..1 (default 1)
 */

/**
 * @typedef {object} PlayerStats
 * @property {'stopped'|'starting'|'buffering'|'playing'|'idle'|'error'} state
 * @property {string} source
 * @property {string} connection       the source's connection state
 * @property {number} sampleRate       of the AudioContext
 * @property {number} bufferMs         audio queued in the jitter buffer
 * @property {number} targetMs         the jitter buffer's target
 * @property {number} delayMs          its measured delay
 * @property {number} jitterMs         arrival jitter quantile
 * @property {number|null} latencyMs   capture → speaker (includes the output latency)
 * @property {number} outputLatencyMs  what the browser adds after the worklet
 * @property {number} underruns        since playing started
 * @property {number} concealedMs
 * @property {number} framesReceived
 * @property {number} framesLate
 * @property {number} framesMissing
 * @property {number} framesDropped
 * @property {number} rate             playback speed correction (1 = none)
 */

export class Player {
    /**
     * @param {string} baseUrl  server origin ("" = this page's)
     * @param {PlayerOptions} [options]
     */
    constructor(baseUrl, options = {}) {
        this.baseUrl = (baseUrl || '').replace(/\/+$/, '');
        this.options = options;
        this.streamId = options.streamId ?? 'main';
        /** @type {PlayerSource} */
        this.source = options.source ?? new SsePcm16Source(this.baseUrl, options.token ?? null, this.streamId);
        /** @type {AudioContext|null} */
        this.ctx = null;
        /** @type {AudioWorkletNode|null} */
        this.node = null;
        /** @type {GainNode|null} */
        this.gain = null;
        /** @type {AnalyserNode|null} the output, for level meters and tests */
        this.analyser = null;
        this.resampler = new LinearResampler();
        /** @type {PlayerStats['state']} */
        this.state = 'stopped';
        this.connection = 'idle';
        this.framesReceived = 0;
        /** @type {Record<string, any>} */
        this.worklet = {};
        this.reportTimer = /** @type {any} */ (null);
        /** @type {(stats: PlayerStats) => void} */
        this.onStats = () => {};
        /** @type {(error: {type: string, message: string}) => void} */
        this.onError = () => {};
    }

    /** The stream's rate and frame duration, from /api/streams. @private */
    async streamInfo() {
        let sampleRate = this.options.sampleRate;
        let frameMs = this.options.frameMs;
        if (!sampleRate || !frameMs) {
            try {
                const r = await fetch(`${this.baseUrl}/api/streams`);
                const j = await r.json();
                const s = (j.streams || []).find((/** @type {any} */ x) => x.id === this.streamId);
                sampleRate ??= s?.sample_rate;
                frameMs ??= s?.frame_ms;
            } catch {
                // fall through to defaults
            }
        }
        return { sampleRate: sampleRate ?? 48000, frameMs: frameMs ?? 20 };
    }

    /**
     * Starts playback. Call it from a user gesture (click), or with autoplay allowed.
     * Resolves when the audio graph runs and the source is connected.
     */
    async start() {
        if (this.state !== 'stopped' && this.state !== 'error') return;
        this.state = 'starting';
        const { sampleRate, frameMs } = await this.streamInfo();
        const channels = this.options.channels ?? 2;
        const ctx = new AudioContext({ sampleRate, latencyHint: 'interactive' });
        this.ctx = ctx;
        const resumed = ctx.resume();
        const url = this.options.workletUrl ?? new URL('./worklet.js', import.meta.url);
        await ctx.audioWorklet.addModule(url);
        const node = new AudioWorkletNode(ctx, 'ondes-player', {
            numberOfInputs: 0,
            numberOfOutputs: 1,
            outputChannelCount: [channels],
            processorOptions: { channels, frameMs, jitter: this.options.jitter ?? {} },
        });
        this.node = node;
        node.port.onmessage = (e) => {
            if (e.data?.type === 'stats') {
                this.worklet = e.data;
                if (this.state !== 'stopped' && this.state !== 'error') this.state = e.data.state;
                this.safe(() => this.onStats(this.getStats()));
            }
        };
        node.onprocessorerror = () => {
            this.state = 'error';
            this.safe(() => this.onError({ type: 'worklet', message: 'the audio worklet failed' }));
        };
        this.gain = new GainNode(ctx, { gain: this.options.volume ?? 1 });
        this.analyser = new AnalyserNode(ctx, { fftSize: 2048 });
        node.connect(this.gain).connect(this.analyser).connect(ctx.destination);
        await resumed;

        /** @type {PlayerSink} */
        const sink = {
            frame: (f) => this.handleFrame(f),
            status: (s) => {
                // a paused stream drains without counting underruns, and the frames the
                // server skipped while paused are not lost
                if (s.status === 'paused') node.port.postMessage({ type: 'idle' });
                if (s.status === 'resumed') node.port.postMessage({ type: 'resync' });
            },
            state: (s) => {
                this.connection = s;
                if (s === 'ended' || s === 'failed' || s === 'reconnecting') node.port.postMessage({ type: 'idle' });
            },
            error: (e) => this.safe(() => this.onError(e)),
        };
        try {
            await this.source.start(sink);
        } catch (e) {
            this.state = 'error';
            throw e;
        }
        if (this.state === 'starting') this.state = 'buffering';
        this.reportTimer = setInterval(() => {
            // TODO(ws-opus): with a WebSocket source this reaches the server (docs/protocol.md)
            if (this.source.sendReport) this.source.sendReport(this.report());
        }, 1000);
    }

    /** @private */
    handleFrame(/** @type {DecodedFrame} */ f) {
        if (!this.ctx || !this.node) return;
        this.framesReceived++;
        const samples = this.resampler.process(f.samples, f.sampleRate, this.ctx.sampleRate);
        // copied by structured clone: the source may keep its own references
        this.node.port.postMessage({ type: 'frame', seq: f.seq, captureMs: f.captureMs, samples });
    }

    /** Stops playback and closes the connection and the audio context. */
    async stop() {
        clearInterval(this.reportTimer);
        this.reportTimer = null;
        this.source.stop();
        this.node?.port.postMessage({ type: 'stop' });
        this.node?.disconnect();
        const ctx = this.ctx;
        this.ctx = this.node = this.gain = this.analyser = null;
        this.state = 'stopped';
        if (ctx) await ctx.close();
    }

    /** @param {number} v 0..1 */
    setVolume(v) {
        if (this.gain) this.gain.gain.value = Math.max(0, Math.min(1, v));
    }

    /** RMS of the output over the analyser's window (0..1). */
    outputRms() {
        if (!this.analyser) return 0;
        const buf = new Float32Array(this.analyser.fftSize);
        this.analyser.getFloatTimeDomainData(buf);
        let s = 0;
        for (const v of buf) s += v * v;
        return Math.sqrt(s / buf.length);
    }

    /** @returns {PlayerStats} */
    getStats() {
        const w = this.worklet;
        const ctx = this.ctx;
        const outputLatencyMs = ctx ? ((ctx.outputLatency || 0) + (ctx.baseLatency || 0)) * 1000 : 0;
        const latencyMs = typeof w.playingCaptureMs === 'number' && typeof w.at === 'number' ? w.at - w.playingCaptureMs + outputLatencyMs : null;
        return {
            state: this.state,
            source: this.source.name,
            connection: this.connection,
            sampleRate: ctx?.sampleRate ?? 0,
            bufferMs: w.levelMs ?? 0,
            targetMs: w.targetMs ?? 0,
            delayMs: w.delayMs ?? 0,
            jitterMs: w.jitterMs ?? 0,
            latencyMs,
            outputLatencyMs,
            underruns: w.underruns ?? 0,
            concealedMs: w.concealedMs ?? 0,
            framesReceived: this.framesReceived,
            framesLate: w.framesLate ?? 0,
            framesMissing: w.framesMissing ?? 0,
            framesDropped: w.framesDropped ?? 0,
            rate: w.rate ?? 1,
        };
    }

    /** @returns {PlayerReport} */
    report() {
        const s = this.getStats();
        return {
            type: 'report',
            buffer_ms: Math.round(s.bufferMs * 10) / 10,
            target_ms: Math.round(s.targetMs * 10) / 10,
            underruns: s.underruns,
            concealed_ms: Math.round(s.concealedMs),
            late_frames: s.framesLate,
            lost_frames: s.framesMissing,
            received_frames: s.framesReceived,
            latency_ms: s.latencyMs === null ? null : Math.round(s.latencyMs * 10) / 10,
        };
    }

    /** @private */
    safe(/** @type {() => void} */ fn) {
        try {
            fn();
        } catch (e) {
            console.warn('ondes player callback threw', e);
        }
    }
}
