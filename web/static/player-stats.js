// @ts-check
/**
 * The Player's figures: one view of playout put together from the worklet's jitter buffer
 * statistics and the source's transport statistics ({@link playerStats}); the protocol's
 * `report` made from it ({@link playerReport}), which a WebSocket source sends to the server
 * every second; and, with `measureLatency`, each frame's way from capture to output
 * ({@link LatencyRecorder}).
 *
 * Latency is from the frame's capture timestamp (carried end to end) to the worklet's output
 * of it, plus the output latency the browser reports: the figure a listener hears.
 */

import { reportMessage } from './protocol.js';
import { outputLatencyMs } from './audio-graph.js';

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
 * @property {number} framesSkipped    frames the server skipped (lagged, paused), jumped over
 * @property {number} framesDropped
 * @property {number} droppedMs        audio the jitter buffer dropped at once (far above its target, or over capacity)
 * @property {number} acceleratedMs    audio cut from frames played shortened, pitch kept, to drain excess delay
 * @property {number} rate             playback speed correction (1 = none)
 * @property {string|null} codec       what the transport carries (opus, pcm16)
 * @property {string|null} rung        the server's rung (WebSocket)
 * @property {number|null} rttMs       round trip to the server (WebSocket ping/pong)
 * @property {number|null} clockOffsetMs  server clock − this clock, estimated from ping/pong (not applied to latencyMs)
 * @property {[number, number]|null} jitterBoundsMs  the jitter buffer's target bounds [min, max] (null before the worklet reports)
 */

/**
 * @typedef {object} PlayerState
 * @property {PlayerStats['state']} state
 * @property {string} connection
 * @property {import('./player-source.js').PlayerSource|null} source
 * @property {AudioContext|null} ctx
 * @property {Record<string, any>} worklet   the worklet's latest `stats` message
 * @property {number} framesReceived
 */

/**
 * The Player's statistics: the worklet's, the source's, and the latency they make together.
 * @param {PlayerState} p
 * @returns {PlayerStats}
 */
export function playerStats(p) {
    const w = p.worklet;
    const outLatMs = outputLatencyMs(p.ctx);
    const latencyMs = typeof w.playingCaptureMs === 'number' && typeof w.at === 'number' ? w.at - w.playingCaptureMs + outLatMs : null;
    const t = p.source?.stats?.() ?? {};
    return {
        state: p.state,
        source: p.source?.name ?? 'none',
        connection: p.connection,
        sampleRate: p.ctx?.sampleRate ?? 0,
        bufferMs: w.levelMs ?? 0,
        targetMs: w.targetMs ?? 0,
        delayMs: w.delayMs ?? 0,
        jitterMs: w.jitterMs ?? 0,
        latencyMs,
        outputLatencyMs: outLatMs,
        underruns: w.underruns ?? 0,
        // the jitter buffer's concealment plus the source's (missing Opus packets)
        concealedMs: (w.concealedMs ?? 0) + (t.concealedMs ?? 0),
        framesReceived: p.framesReceived,
        framesLate: w.framesLate ?? 0,
        framesMissing: (w.framesMissing ?? 0) + (t.lostFrames ?? 0),
        framesSkipped: w.framesSkipped ?? 0,
        framesDropped: w.framesDropped ?? 0,
        droppedMs: w.droppedMs ?? 0,
        acceleratedMs: w.acceleratedMs ?? 0,
        rate: w.rate ?? 1,
        codec: t.codec ?? (p.source?.name === 'sse-pcm16' ? 'pcm16' : null),
        rung: t.rung ?? null,
        rttMs: t.rttMs ?? null,
        clockOffsetMs: t.clockOffsetMs ?? null,
        jitterBoundsMs: typeof w.minTargetMs === 'number' ? [w.minTargetMs, w.maxTargetMs] : null,
    };
}

/**
 * The protocol's `report` from the Player's statistics (the source adds `rtt_ms`).
 * @param {PlayerStats} s
 * @returns {import('./protocol.js').ReportMessage}
 */
export function playerReport(s) {
    return reportMessage({
        buffer_ms: Math.round(s.bufferMs * 10) / 10,
        target_ms: Math.round(s.targetMs * 10) / 10,
        underruns: s.underruns,
        concealed_ms: Math.round(s.concealedMs),
        late_frames: s.framesLate,
        lost_frames: s.framesMissing,
        received_frames: s.framesReceived,
        accelerated_ms: Math.round(s.acceleratedMs),
        dropped_ms: Math.round(s.droppedMs),
        e2e_latency_ms: s.latencyMs === null ? null : Math.round(s.latencyMs * 10) / 10,
    });
}

/**
 * One frame's way through the player (with `measureLatency`), all times in ms since the
 * epoch on this machine's clock; the capture time is the server's clock.
 * @typedef {object} LatencyRecord
 * @property {number} seq
 * @property {number} captureMs
 * @property {number|null} receivedMs  its message arrived
 * @property {number|null} decodedMs   decoded (Opus) or converted (PCM)
 * @property {number} outputMs         its first sample left the worklet
 */

/** Frames kept waiting for the worklet to say they were output. */
const KEEP_PENDING = 2000;
/** Records kept: the last this many frames played. */
const KEEP_RECORDS = 10000;

/**
 * Joins what the source knows of a frame (arrival, decoding) with what the worklet reports
 * (output), by sequence number.
 */
export class LatencyRecorder {
    constructor() {
        /** @type {Map<number, {receivedMs: number|null, decodedMs: number|null}>} */
        this.pending = new Map();
        /** @type {LatencyRecord[]} the last 10,000 frames played */
        this.records = [];
    }

    /** A frame handed to the worklet. @param {import('./player-source.js').DecodedFrame} f */
    frame(f) {
        this.pending.set(f.seq, { receivedMs: f.receivedMs ?? null, decodedMs: f.decodedMs ?? null });
        if (this.pending.size > KEEP_PENDING) this.pending.delete(/** @type {number} */ (this.pending.keys().next().value));
    }

    /** The worklet's `outputs`: when each frame's first sample left it. */
    outputs(/** @type {{seq: number, captureMs: number, outputMs: number}[]} */ outputs) {
        for (const o of outputs) {
            const t = this.pending.get(o.seq);
            this.records.push({ seq: o.seq, captureMs: o.captureMs, receivedMs: t?.receivedMs ?? null, decodedMs: t?.decodedMs ?? null, outputMs: o.outputMs });
        }
        if (this.records.length > KEEP_RECORDS) this.records.splice(0, this.records.length - KEEP_RECORDS);
    }
}
