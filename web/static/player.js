// @ts-check
/**
 * Player: plays an ondes stream with low latency in the browser.
 *
 *   source (network + decoding) ──DecodedFrame──▶ Player (resample if needed)
 *        ──postMessage──▶ AudioWorklet `worklet.js` (adaptive JitterBuffer) ──▶ speakers
 *                                                   └──stats (4/s)──▶ Player.getStats()
 *
 * This file chooses the source, starts and stops, and passes frames, notices and bounds
 * from the source to the worklet. The parts, one job each:
 *
 * - sources ({@link PlayerSource}, `player-source.js`): {@link WsOpusSource} (the default;
 *   WebSocket protocol v1, Opus decoded by WebCodecs, and the PCM16 messages the server
 *   sends when the stream has no Opus ladder or its quality cap selects PCM),
 *   {@link WsPcm16Source} (the same WebSocket with `rung=pcm16`, for browsers without Opus in
 *   WebCodecs), both in `ws-source.js`; {@link SsePcm16Source} (`sse-source.js`, SSE with
 *   `format=pcm16`, when the WebSocket cannot connect at all);
 * - the audio graph (`audio-graph.js`) and the messages to its worklet (`worklet-messages.js`);
 * - statistics, the `report` sent to the server, latency records (`player-stats.js`);
 * - the jitter buffer's bounds from the server's advice (`jitter-advice.js`).
 */

import { WsOpusSource, WsPcm16Source } from './ws-source.js';
import { SsePcm16Source } from './sse-source.js';
import { LinearResampler } from './resampler.js';
import { withUserBounds } from './jitter-advice.js';
import { STATUS, skippedFrames } from './protocol.js';
import { openAudioContext, buildPlayoutGraph, outputRms } from './audio-graph.js';
import { WORKLET_MSG, frameMessage, boundsMessage, signal } from './worklet-messages.js';
import { playerStats, playerReport, LatencyRecorder } from './player-stats.js';

// The pieces, for pages that imported them from here.
export { WsOpusSource, WsPcm16Source } from './ws-source.js';
export { SsePcm16Source } from './sse-source.js';
export { LinearResampler } from './resampler.js';
export { adviceBounds, withUserBounds } from './jitter-advice.js';
export { parseJitterAdvice as parseAdvice, skippedFrames } from './protocol.js';

/** @typedef {import('./player-source.js').PlayerSource} PlayerSource */
/** @typedef {import('./player-source.js').PlayerSink} PlayerSink */
/** @typedef {import('./player-source.js').DecodedFrame} DecodedFrame */
/** @typedef {import('./player-source.js').SourceNotice} SourceNotice */
/** @typedef {import('./jitter-advice.js').JitterBounds} JitterBounds */
/** @typedef {import('./player-stats.js').PlayerStats} PlayerStats */
/** @typedef {import('./player-stats.js').LatencyRecord} LatencyRecord */
/** @typedef {import('./protocol.js').ReportMessage} PlayerReport */

/**
 * @typedef {object} PlayerOptions
 * @property {string} [streamId]      default "main"
 * @property {string|null} [token]
 * @property {number} [sampleRate]    the stream's rate (asked from /api/streams when missing)
 * @property {number} [frameMs]       the stream's frame duration (idem)
 * @property {number} [channels]      output channels (default 2)
 * @property {number} [streamChannels]  the stream's channels (asked from /api/streams when missing)
 * @property {'auto'|'ws-opus'|'ws-pcm16'|'sse-pcm16'} [transport]  default `auto`: WebSocket
 *           Opus when this browser decodes Opus (WebCodecs), else WebSocket PCM16; SSE PCM16
 *           when the WebSocket cannot connect
 * @property {import('./ws-source.js').WsSourceOptions} [ws]   WebSocket tuning (rung, batch — default 1 frame per message)
 * @property {PlayerSource} [source]  a source of your own (overrides `transport`)
 * @property {boolean} [measureLatency]  keep per-frame glass-to-glass records ({@link Player.latencyRecords})
 * @property {string|URL} [workletUrl]  default: worklet.js next to this module
 * @property {import('./jitter-buffer.js').JitterBufferOptions|Record<string, number>} [jitter]  jitter buffer tuning
 * @property {number} [volume]        0..1 (default 1)
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
        /** @type {PlayerSource|null} chosen by start() unless given */
        this.source = options.source ?? null;
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
        /** @type {Record<string, any>} the worklet's latest `stats` message */
        this.worklet = {};
        this.reportTimer = /** @type {any} */ (null);
        this.latency = new LatencyRecorder();
        /** @type {JitterBounds|null} the jitter buffer's bounds from the server's advice (with the user's) */
        this.jitterBounds = null;
        /** @type {(stats: PlayerStats) => void} */
        this.onStats = () => {};
        /** @type {(error: {type: string, message: string}) => void} */
        this.onError = () => {};
    }

    /** @type {LatencyRecord[]} with `measureLatency`: the last 10,000 frames played */
    get latencyRecords() {
        return this.latency.records;
    }

    /** The stream's rate and frame duration, from /api/streams. @private */
    async streamInfo() {
        let sampleRate = this.options.sampleRate;
        let frameMs = this.options.frameMs;
        let channels = this.options.streamChannels;
        if (!sampleRate || !frameMs || !channels) {
            try {
                const r = await fetch(`${this.baseUrl}/api/streams`);
                const j = await r.json();
                const s = (j.streams || []).find((/** @type {any} */ x) => x.id === this.streamId);
                sampleRate ??= s?.sample_rate;
                frameMs ??= s?.frame_ms;
                channels ??= s?.channels;
            } catch {
                // fall through to defaults
            }
        }
        return { sampleRate: sampleRate ?? 48000, frameMs: frameMs ?? 20, streamChannels: channels ?? 2 };
    }

    /**
     * The sources to try, in order (see {@link PlayerOptions.transport}).
     * @private
     * @returns {Promise<PlayerSource[]>}
     */
    async candidateSources(/** @type {number} */ sampleRate, /** @type {number} */ channels) {
        if (this.options.source) return [this.options.source];
        const token = this.options.token ?? null;
        const ws = this.options.ws ?? {};
        const opus = () => new WsOpusSource(this.baseUrl, token, this.streamId, ws);
        const wsPcm = () => new WsPcm16Source(this.baseUrl, token, this.streamId, ws);
        const sse = () => new SsePcm16Source(this.baseUrl, token, this.streamId);
        switch (this.options.transport ?? 'auto') {
            case 'ws-opus':
                return [opus()];
            case 'ws-pcm16':
                return [wsPcm()];
            case 'sse-pcm16':
                return [sse()];
            default:
                return [(await WsOpusSource.isSupported(sampleRate, channels)) ? opus() : wsPcm(), sse()];
        }
    }

    /**
     * Starts playback. Call it from a user gesture (click), or with autoplay allowed.
     * Resolves when the audio graph runs and the source is connected.
     */
    async start() {
        if (this.state !== 'stopped' && this.state !== 'error') return;
        this.state = 'starting';
        const { sampleRate, frameMs, streamChannels } = await this.streamInfo();
        const channels = this.options.channels ?? 2;
        const ctx = openAudioContext(sampleRate);
        this.ctx = ctx;
        const resumed = ctx.resume();
        const { node, gain, analyser } = await buildPlayoutGraph(ctx, {
            channels,
            frameMs,
            jitter: this.options.jitter ?? {},
            measureLatency: !!this.options.measureLatency,
            volume: this.options.volume ?? 1,
            workletUrl: this.options.workletUrl,
        });
        this.node = node;
        this.gain = gain;
        this.analyser = analyser;
        node.port.onmessage = (e) => {
            if (e.data?.type === WORKLET_MSG.STATS) {
                if (e.data.outputs) this.latency.outputs(e.data.outputs);
                this.worklet = e.data;
                if (this.state !== 'stopped' && this.state !== 'error') this.state = e.data.state;
                this.safe(() => this.onStats(this.getStats()));
            }
        };
        node.onprocessorerror = () => {
            this.state = 'error';
            this.safe(() => this.onError({ type: 'worklet', message: 'the audio worklet failed' }));
        };
        await resumed;

        /** @type {PlayerSink} */
        const sink = {
            frame: (f) => this.handleFrame(f),
            status: (s) => this.handleStatus(s),
            jitterBounds: (b) => this.applyJitterBounds(b),
            state: (s) => {
                this.connection = s;
                if (s === 'ended' || s === 'failed' || s === 'reconnecting') node.port.postMessage(signal(WORKLET_MSG.IDLE));
            },
            error: (e) => this.safe(() => this.onError(e)),
        };
        const candidates = await this.candidateSources(sampleRate, streamChannels);
        /** @type {unknown} */
        let failure = null;
        for (const source of candidates) {
            this.source = source;
            try {
                await source.start(sink);
                failure = null;
                break;
            } catch (e) {
                failure = e;
                source.stop();
                if (/** @type {string} */ (this.state) === 'stopped') return; // stop() was called meanwhile
                console.warn(`ondes player: ${source.name} failed (${e instanceof Error ? e.message : e})`);
            }
        }
        if (failure) {
            this.state = 'error';
            throw failure;
        }
        if (this.state === 'starting') this.state = 'buffering';
        // with a WebSocket source this reaches the server (docs/protocol.md, `report`)
        this.reportTimer = setInterval(() => this.source?.sendReport?.(this.report()), 1000);
    }

    /**
     * A status notice from the source, which hands it on in order with the frames.
     * @private
     */
    handleStatus(/** @type {SourceNotice} */ s) {
        if (!this.node) return;
        const port = this.node.port;
        // a paused stream drains without counting underruns
        if (s.status === STATUS.PAUSED) port.postMessage(signal(WORKLET_MSG.IDLE));
        if (skippedFrames(s) > 0) {
            // the frames after this notice continue from live (or from where the pause
            // ended): the jitter buffer jumps over the gap instead of counting it lost
            port.postMessage(signal(WORKLET_MSG.SKIP));
        } else if (s.status === STATUS.RESUMED) {
            // resumed without a count: whatever gap follows is not lost either
            port.postMessage(signal(WORKLET_MSG.RESYNC));
        }
    }

    /**
     * The server's advice, as bounds (`adviceBounds`): with the user's own
     * (`options.jitter.minTargetMs/maxTargetMs`, `withUserBounds`) to the jitter buffer.
     * @private
     */
    applyJitterBounds(/** @type {JitterBounds} */ advised) {
        const b = withUserBounds(advised, /** @type {any} */ (this.options.jitter ?? {}));
        this.jitterBounds = b;
        this.node?.port.postMessage(boundsMessage(b));
    }

    /** @private */
    handleFrame(/** @type {DecodedFrame} */ f) {
        if (!this.ctx || !this.node) return;
        this.framesReceived++;
        if (this.options.measureLatency) this.latency.frame(f);
        const samples = this.resampler.process(f.samples, f.sampleRate, this.ctx.sampleRate);
        // copied by structured clone: the source may keep its own references
        this.node.port.postMessage(frameMessage(f.seq, f.captureMs, samples));
    }

    /** Stops playback and closes the connection and the audio context. */
    async stop() {
        clearInterval(this.reportTimer);
        this.reportTimer = null;
        this.source?.stop();
        this.node?.port.postMessage(signal(WORKLET_MSG.STOP));
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
        return outputRms(this.analyser);
    }

    /** @returns {PlayerStats} */
    getStats() {
        return playerStats(this);
    }

    /** @returns {PlayerReport} the protocol's `report` (the source adds the RTT when it sends it) */
    report() {
        return playerReport(this.getStats());
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
