// @ts-check
/**
 * Player: plays an ondes stream with low latency in the browser.
 *
 *   source (network + decoding) ──DecodedFrame──▶ Player (resample if needed)
 *        ──postMessage──▶ AudioWorklet `worklet.js` (adaptive JitterBuffer) ──▶ speakers
 *                                                   └──stats (4/s)──▶ Player.getStats()
 *
 * The source is pluggable ({@link PlayerSource}):
 *
 * - {@link WsOpusSource} (the default): WebSocket protocol v1 (docs/protocol.md, decoded by
 *   `wire.js`), Opus decoded by WebCodecs `AudioDecoder`; it also plays the PCM16 messages
 *   the server sends when the stream has no Opus ladder or its quality cap selects PCM.
 *   Reports playout to the server every second and measures the RTT with ping/pong.
 * - {@link WsPcm16Source}: the same WebSocket with `rung=pcm16`, used when the browser has
 *   no `AudioDecoder` or no Opus in it.
 * - {@link SsePcm16Source}: SSE with `format=pcm16`, the fallback when the WebSocket
 *   cannot connect (a proxy that does not pass upgrades, say). SSE has no upstream, so its
 *   reports stay local.
 */

import { AudioStreamClient, nowMs } from './client.js';
import { decodeAudio, pcm16ToPlanar, f32ToPlanar, WireError } from './wire.js';

/**
 * @typedef {object} DecodedFrame
 * @property {number} seq            frame number
 * @property {number} captureMs      capture time of the first sample (ms since the epoch)
 * @property {number} sampleRate
 * @property {Float32Array[]} samples  planar, one array per channel
 * @property {number} [receivedMs]   when its message arrived (ms since the epoch), if the source knows
 * @property {number} [decodedMs]    when it was decoded, if the source knows
 */

/**
 * @typedef {object} PlayerSink
 * @property {(frame: DecodedFrame) => void} frame
 * @property {(status: {status: string, [k: string]: unknown}) => void} status
 * @property {(state: string) => void} state     the connection state (client states)
 * @property {(error: {type: string, message: string}) => void} error
 * @property {(bounds: JitterBounds) => void} [jitterBounds]  the jitter buffer's bounds the
 *           server's advice asks for (a source that gets advice calls it; see {@link adviceBounds})
 */

/**
 * Bounds of the jitter buffer's target, ms.
 * @typedef {object} JitterBounds
 * @property {number} minMs
 * @property {number} maxMs
 */

/**
 * The server's jitter-buffer advice (`jitter` in the WebSocket `info` and `rung` messages;
 * ondes-core's `JitterAdvice`).
 * @typedef {object} JitterAdvice
 * @property {number} target_ms   the floor the server asks for (its profile's target, or its controller's)
 * @property {number} max_ms      the profile's ceiling of the buffer delay
 * @property {number} rtts        round trips of margin the floor must also cover (TCP retransmissions)
 */

/**
 * The advice in a server message, or null when it has none (an older server) or it is
 * unusable.
 * @param {any} j
 * @returns {JitterAdvice|null}
 */
export function parseAdvice(j) {
    const ok = (/** @type {unknown} */ v) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
    if (!j || typeof j !== 'object' || !ok(j.target_ms) || !ok(j.max_ms) || !ok(j.rtts)) return null;
    return { target_ms: j.target_ms, max_ms: j.max_ms, rtts: j.rtts };
}

/**
 * Frames the server says it skipped before the frames that follow a status notice:
 * `lagged` (a listener that fell behind, moved to live) or `resumed` (frames skipped while
 * paused); 0 for any other notice.
 * @param {{status: string, [k: string]: unknown}} s
 */
export function skippedFrames(s) {
    const n = s.status === 'lagged' ? s.skipped_frames : s.status === 'resumed' ? s.skipped_while_paused : 0;
    return typeof n === 'number' && n > 0 ? n : 0;
}

/**
 * The bounds the advice asks of a client that receives `messageMs` of audio per message
 * (batch × frame) and measured a round trip of `rttMs`; as `JitterAdvice::bounds_us` of
 * ondes-core, so that the browser sets the floor the server's controller plans with. A
 * batch arrives all at once, so the buffer must hold at least a message, and a TCP
 * retransmission costs about a round trip: the floor covers both, and the server's target.
 * @param {JitterAdvice} advice
 * @param {number} messageMs
 * @param {number} rttMs
 * @returns {JitterBounds}
 */
export function adviceBounds(advice, messageMs, rttMs) {
    const minMs = Math.max(advice.target_ms, messageMs + advice.rtts * rttMs);
    // a floor above the ceiling lifts the ceiling: never an invalid pair
    return { minMs, maxMs: Math.max(advice.max_ms, minMs) };
}

/**
 * The advised bounds with the user's own (`PlayerOptions.jitter.minTargetMs/maxTargetMs`),
 * as `ondes listen --min-jitter/--max-jitter`: the user's minimum is an extra floor, the
 * user's maximum replaces the advised one; the floor never exceeds the ceiling.
 * @param {JitterBounds} advised
 * @param {{minTargetMs?: number, maxTargetMs?: number}} [user]
 * @returns {JitterBounds}
 */
export function withUserBounds(advised, user = {}) {
    const maxMs = typeof user.maxTargetMs === 'number' ? user.maxTargetMs : advised.maxMs;
    const minMs = Math.max(typeof user.minTargetMs === 'number' ? user.minTargetMs : 0, advised.minMs);
    return { minMs: Math.min(minMs, maxMs), maxMs };
}

/**
 * A way to get decoded audio frames from the server.
 * @typedef {object} PlayerSource
 * @property {string} name
 * @property {(sink: PlayerSink) => Promise<void>} start
 * @property {() => void} stop
 * @property {(report: PlayerReport) => void} [sendReport]  tell the server how playout goes
 * @property {() => Record<string, any>} [stats]  transport statistics (codec, rung, rttMs, concealedMs, lostFrames…)
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
 * @property {number|null} [e2e_latency_ms]  capture → speaker, when known (the server's
 *           `ondes_client_e2e_latency` metric)
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
                receivedMs: f.received_at,
                decodedMs: f.received_at, // base64 PCM is decoded on arrival
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

/**
 * @typedef {object} WsSourceOptions
 * @property {string} [rung]                  `auto` (default: the best Opus rung the stream's quality allows), `pcm16`, or a rung's kbit/s
 * @property {number} [batch]                 frames per message, 1..=32 (default 1: the lowest latency; 4 is the server's default)
 * @property {string} [profile]               streaming profile or scenario the server plans with (default
 *                                            `ultra_performance`, like batch 1: live listening, a 20 ms jitter
 *                                            floor plus round trips; `balanced` asks for 60 ms and 4-frame messages)
 * @property {number} [pingIntervalMs]        RTT measurement period (default 1000)
 * @property {number} [connectTimeoutMs]      no `info` message within this = failure (default 5000)
 * @property {number} [maxReconnectAttempts]  after a connection that worked (default 10)
 * @property {number} [reconnectBaseMs]       first backoff (default 500)
 * @property {number} [reconnectMaxMs]        largest backoff (default 15000)
 * @property {number} [fadeInMs]              fade-in of the first frame after a concealed one (default 5)
 */

/**
 * One frame on its way from the socket to the player, kept in arrival order so that
 * asynchronous Opus decoding, synchronous PCM and concealment come out in sequence.
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
 * What waits in the source's queue: a frame, or a status notice that must reach the Player
 * after the frames that arrived before it.
 * @typedef {PendingFrame | {notice: {status: string, [k: string]: unknown}}} PendingItem
 */

/**
 * WebSocket source, protocol v1 (docs/protocol.md): `GET /api/streams/{id}/ws`.
 *
 * - Binary audio messages are parsed by `wire.js`; Opus frames are decoded by a WebCodecs
 *   `AudioDecoder` ({codec: 'opus', sampleRate, numberOfChannels} from the `info`
 *   message; raw Opus packets need no description), one `EncodedAudioChunk` per frame;
 *   PCM16 (and f32) frames are converted directly. Decoding is asynchronous and PCM is not,
 *   so frames wait in arrival order and leave in sequence ({@link PendingFrame}).
 * - An empty Opus frame is a packet the server does not have: it is concealed here (the
 *   last decoded frame played backwards then forwards — continuous at the joins — fading
 *   to silence over two frames; the next real frame fades in), so the timeline keeps its
 *   length and the jitter buffer does not underrun. Counted in `concealedMs`/`lostFrames`.
 * - Text messages: `info` (codec, rung, layout), `status` (paused, resumed, lagged,
 *   source-lost, source-restored), `rung`, `pong`, `error`. It sends `ping` every second
 *   (RTT, and a clock offset estimate from the lowest-RTT exchange, NTP style) and the
 *   Player's `report` with `rtt_ms` added. Statuses reach the sink in order with the frames
 *   (after those still being decoded), so that `lagged` comes right before the first frame
 *   after the skip and `paused` after the last one.
 * - Jitter advice (`jitter` in `info`, and in a `rung` message when the client should take
 *   new bounds; a `rung` without it keeps them): the source turns it into bounds with the
 *   audio per message (`batch` × `frame_ms`, the batch of the latest `info`/`rung`) and
 *   the round trip of this connection's first ping ({@link adviceBounds}; 0 until it is
 *   measured, then the bounds are sent again once) and gives them to `sink.jitterBounds`.
 * - A connection that worked and then closed is reopened with exponential backoff and
 *   jitter (like `AudioStreamClient`); `stream_ended` is final. A first connection that
 *   fails rejects `start()`, so that the Player can fall back to SSE.
 */
export class WsOpusSource {
    /**
     * @param {string} baseUrl   server origin ("" = this page's)
     * @param {string|null} token
     * @param {string} streamId
     * @param {WsSourceOptions} [options]
     */
    constructor(baseUrl, token, streamId, options = {}) {
        this.baseUrl = (baseUrl || '').replace(/\/+$/, '');
        this.token = token;
        this.streamId = streamId;
        this.rung = options.rung ?? 'auto';
        this.batch = options.batch ?? 1;
        this.profile = options.profile ?? 'ultra_performance';
        this.pingIntervalMs = options.pingIntervalMs ?? 1000;
        this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
        this.maxReconnectAttempts = options.maxReconnectAttempts ?? 10;
        this.reconnectBaseMs = options.reconnectBaseMs ?? 500;
        this.reconnectMaxMs = options.reconnectMaxMs ?? 15000;
        this.fadeInMs = options.fadeInMs ?? 5;
        /** @type {PlayerSink|null} */
        this.sink = null;
        /** @type {WebSocket|null} */
        this.ws = null;
        /** @type {any} the server's latest `info` message */
        this.info = null;
        /** @type {string|null} codec of the last audio message (or of `info`) */
        this.codec = null;
        this.rungName = /** @type {string|null} */ (null);
        this.state = 'idle';
        this.stopped = false;
        this.everConnected = false;
        this.attempt = 0;
        this.lastSeq = /** @type {number|null} */ (null);
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
        this.pingId = 0;
        /** @type {Map<number, number>} ping id → sent at (ms) */
        this.pings = new Map();
        this.rttMs = /** @type {number|null} */ (null);
        this.minRttMs = /** @type {number|null} */ (null);
        /** @type {JitterAdvice|null} the server's latest jitter advice */
        this.advice = null;
        /** frames per message, from the latest `info` or `rung` message */
        this.messageBatch = /** @type {number|null} */ (null);
        /** the round trip the advice is combined with: this connection's first ping's (the
         * Rust client uses its handshake's; a ping is the browser's nearest equivalent) */
        this.adviceRttMs = /** @type {number|null} */ (null);
        /** @type {JitterBounds|null} the bounds last given to the sink */
        this.advisedBounds = null;
        this.clockOffsetMs = /** @type {number|null} */ (null);
        this.timers = { ping: /** @type {any} */ (null), connect: /** @type {any} */ (null), reconnect: /** @type {any} */ (null) };
        /** @type {((v: void) => void)|null} */
        this.startResolve = null;
        /** @type {((e: Error) => void)|null} */
        this.startReject = null;
        this.counters = {
            messages: 0,
            bytes: 0,
            framesReceived: 0,
            concealedFrames: 0,
            concealedMs: 0,
            decodeErrors: 0,
            invalidMessages: 0,
            reconnects: 0,
            serverSkippedFrames: 0,
        };
    }

    /** The transport and the codec being played: `ws-opus` or `ws-pcm16`. */
    get name() {
        const codec = this.codec ?? (this.rung === 'pcm16' ? 'pcm16' : 'opus');
        return `ws-${codec}`;
    }

    /**
     * Whether this browser can decode the stream's Opus: `AudioDecoder` exists (a secure
     * context: https or localhost) and accepts the configuration.
     * @param {number} [sampleRate]
     * @param {number} [channels]
     */
    static async isSupported(sampleRate = 48000, channels = 2) {
        if (typeof globalThis.AudioDecoder !== 'function' || typeof globalThis.EncodedAudioChunk !== 'function') return false;
        try {
            const r = await AudioDecoder.isConfigSupported({ codec: 'opus', sampleRate, numberOfChannels: channels });
            return !!r.supported;
        } catch {
            return false;
        }
    }

    /** The WebSocket URL. */
    url() {
        const base = new URL(this.baseUrl || globalThis.location.href);
        const u = new URL(`/api/streams/${encodeURIComponent(this.streamId)}/ws`, base);
        u.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
        u.searchParams.set('rung', this.rung);
        u.searchParams.set('batch', String(this.batch));
        u.searchParams.set('profile', this.profile);
        if (this.token) u.searchParams.set('access_token', this.token);
        return u.toString();
    }

    /**
     * Connects; resolves at the server's `info` message, rejects if the first connection fails.
     * @param {PlayerSink} sink
     */
    start(sink) {
        this.sink = sink;
        this.stopped = false;
        return new Promise((resolve, reject) => {
            this.startResolve = resolve;
            this.startReject = reject;
            this.setState('connecting');
            this.open();
        });
    }

    stop() {
        this.stopped = true;
        for (const t of Object.values(this.timers)) {
            clearTimeout(t);
            clearInterval(t);
        }
        const ws = this.ws;
        this.ws = null;
        if (ws && ws.readyState <= 1) ws.close(1000, 'listener stopped');
        this.resetPipeline(true);
        this.setState('closed');
        this.startReject?.(new Error('stopped'));
        this.startResolve = this.startReject = null;
    }

    /**
     * Sends the Player's report (the protocol's `report` message) with the RTT.
     * @param {PlayerReport} report
     */
    sendReport(report) {
        this.send({ ...report, rtt_ms: this.rttMs === null ? undefined : Math.round(this.rttMs * 100) / 100 });
    }

    /** Transport statistics, merged into the Player's. */
    stats() {
        return {
            codec: this.codec,
            rung: this.rungName,
            batch: this.messageBatch ?? this.info?.batch ?? this.batch,
            jitterAdvice: this.advice,
            advisedBoundsMs: this.advisedBounds ? [this.advisedBounds.minMs, this.advisedBounds.maxMs] : null,
            connectionId: this.info?.connection_id ?? null,
            rttMs: this.rttMs,
            minRttMs: this.minRttMs,
            clockOffsetMs: this.clockOffsetMs,
            lostFrames: this.counters.concealedFrames,
            ...this.counters,
        };
    }

    /** @private */
    open() {
        let ws;
        try {
            ws = new WebSocket(this.url());
        } catch (e) {
            this.onClosed(`cannot open the WebSocket: ${e instanceof Error ? e.message : e}`);
            return;
        }
        ws.binaryType = 'arraybuffer';
        this.ws = ws;
        clearTimeout(this.timers.connect);
        this.timers.connect = setTimeout(() => {
            if (this.ws === ws && !this.info) {
                this.ws = null;
                ws.close();
                this.onClosed(`no info message within ${this.connectTimeoutMs} ms`);
            }
        }, this.connectTimeoutMs);
        ws.onmessage = (e) => {
            if (this.ws !== ws) return;
            if (typeof e.data === 'string') this.onText(e.data);
            else this.onBinary(e.data, nowMs());
        };
        ws.onclose = (e) => {
            if (this.ws !== ws) return;
            this.ws = null;
            this.onClosed(`the WebSocket closed (code ${e.code}${e.reason ? `: ${e.reason}` : ''})`);
        };
    }

    /** @private */
    onText(/** @type {string} */ text) {
        /** @type {any} */
        let m;
        try {
            m = JSON.parse(text);
        } catch {
            this.counters.invalidMessages++;
            return;
        }
        switch (m?.type) {
            case 'info':
                this.onInfo(m);
                break;
            case 'status':
                switch (m.status) {
                    case 'paused':
                        this.setState('paused');
                        break;
                    case 'resumed':
                        this.setState('live');
                        break;
                    case 'source-lost':
                        this.setState('source-lost');
                        break;
                    case 'source-restored':
                        this.setState(this.info?.paused ? 'paused' : 'live');
                        break;
                    default:
                        break;
                }
                if (m.status === 'paused' || m.status === 'resumed') this.info = { ...this.info, paused: m.status === 'paused' };
                this.counters.serverSkippedFrames += skippedFrames(m);
                // in order with the frames: after those that arrived before it
                this.queue.push({ notice: m });
                this.drain();
                break;
            case 'rung': {
                this.rungName = String(m.rung);
                if (typeof m.batch === 'number' && m.batch > 0) this.messageBatch = m.batch;
                // new bounds only when the server sends advice with the rung (a profile
                // change, or a floor it deepens or relaxes on purpose); without, keep them
                const advice = parseAdvice(m.jitter);
                if (advice) {
                    this.advice = advice;
                    this.applyAdvice();
                }
                this.sink?.status({ status: 'rung', ...m });
                break;
            }
            case 'pong':
                this.onPong(m);
                break;
            case 'error':
                this.sink?.error({ type: 'server', message: `${m.error}: ${m.message ?? ''}` });
                if (m.error === 'stream_ended') {
                    this.stopped = true; // final: no reconnection
                    this.setState('ended');
                }
                break;
            default:
                break;
        }
    }

    /** @private */
    onInfo(/** @type {any} */ m) {
        clearTimeout(this.timers.connect);
        this.info = m;
        this.codec = m.codec;
        this.rungName = m.rung;
        this.lastSeq = null;
        this.resetPipeline(false);
        if (m.codec === 'opus' && !this.ensureDecoder(m.sample_rate, m.channels)) {
            // this browser cannot decode it after all: ask for PCM instead
            this.rung = 'pcm16';
            this.codec = 'pcm16';
            this.info = null;
            this.sink?.error({ type: 'decoder', message: 'Opus decoding is not available; switching to 16-bit PCM' });
            this.ws?.close();
            this.ws = null;
            this.open();
            return;
        }
        if (this.everConnected) this.counters.reconnects++;
        this.everConnected = true;
        this.attempt = 0;
        this.setState(m.paused ? 'paused' : m.source_lost ? 'source-lost' : 'live');
        // a new connection: its own batch, advice and round trip
        this.messageBatch = typeof m.batch === 'number' && m.batch > 0 ? m.batch : null;
        this.advice = parseAdvice(m.jitter);
        this.adviceRttMs = null;
        if (this.advice) this.applyAdvice();
        clearInterval(this.timers.ping);
        this.ping();
        this.timers.ping = setInterval(() => this.ping(), this.pingIntervalMs);
        this.startResolve?.();
        this.startResolve = this.startReject = null;
    }

    /** @private */
    onClosed(/** @type {string} */ reason) {
        clearInterval(this.timers.ping);
        clearTimeout(this.timers.connect);
        this.info = null;
        this.resetPipeline(false);
        if (this.stopped) return;
        if (!this.everConnected) {
            // the first connection failed: let the caller choose another transport
            this.stopped = true;
            this.setState('failed');
            this.startReject?.(new Error(reason));
            this.startResolve = this.startReject = null;
            return;
        }
        if (this.attempt >= this.maxReconnectAttempts) {
            this.stopped = true;
            this.setState('failed');
            this.sink?.error({ type: 'reconnect_failed', message: `gave up after ${this.attempt} reconnection attempts: ${reason}` });
            return;
        }
        const delay = Math.min(this.reconnectMaxMs, this.reconnectBaseMs * 2 ** this.attempt) * (0.5 + 0.5 * Math.random());
        this.attempt++;
        this.setState('reconnecting');
        this.sink?.error({
            type: 'connection',
            message: `${reason}; reconnecting in ${Math.round(delay)} ms (attempt ${this.attempt} of ${this.maxReconnectAttempts})`,
        });
        clearTimeout(this.timers.reconnect);
        this.timers.reconnect = setTimeout(() => {
            if (!this.stopped) this.open();
        }, delay);
    }

    /** @private */
    setState(/** @type {string} */ s) {
        if (s === this.state) return;
        this.state = s;
        this.sink?.state(s);
    }

    /** @private */
    send(/** @type {object} */ msg) {
        const ws = this.ws;
        if (!ws || ws.readyState !== 1 || !this.info) return false;
        ws.send(JSON.stringify(msg));
        return true;
    }

    /** @private */
    ping() {
        const id = ++this.pingId;
        const t = nowMs();
        if (this.send({ type: 'ping', id, client_ts_us: Math.round(t * 1000) })) this.pings.set(id, t);
        for (const k of this.pings.keys()) if (k < id - 10) this.pings.delete(k);
    }

    /** @private */
    onPong(/** @type {any} */ m) {
        const sent = this.pings.get(m.id);
        if (sent === undefined) return;
        this.pings.delete(m.id);
        const now = nowMs();
        const rtt = now - sent;
        this.rttMs = rtt;
        if (typeof m.server_ts_us === 'number' && (this.minRttMs === null || rtt <= this.minRttMs * 1.5 + 0.5)) {
            // server clock − client clock, from the best (lowest-RTT) exchanges
            const offset = m.server_ts_us / 1000 - (sent + rtt / 2);
            this.clockOffsetMs = this.clockOffsetMs === null || rtt <= (this.minRttMs ?? rtt) ? offset : this.clockOffsetMs + 0.2 * (offset - this.clockOffsetMs);
        }
        this.minRttMs = this.minRttMs === null ? rtt : Math.min(this.minRttMs, rtt);
        if (this.adviceRttMs === null) {
            // the bounds so far assumed no round trip: once, now that one is known
            this.adviceRttMs = rtt;
            if (this.advice) this.applyAdvice();
        }
    }

    /**
     * Gives the sink the bounds the current advice asks for ({@link adviceBounds}).
     * @private
     */
    applyAdvice() {
        if (!this.advice) return;
        const frameMs = typeof this.info?.frame_ms === 'number' && this.info.frame_ms > 0 ? this.info.frame_ms : 20;
        const batch = Math.max(1, this.messageBatch ?? 1);
        this.advisedBounds = adviceBounds(this.advice, batch * frameMs, this.adviceRttMs ?? 0);
        this.sink?.jitterBounds?.(this.advisedBounds);
    }

    /**
     * A configured decoder for this layout; false when this browser cannot decode it.
     * @private
     */
    ensureDecoder(/** @type {number} */ sampleRate, /** @type {number} */ channels) {
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
        } catch (e) {
            this.decoder = null;
            this.counters.decodeErrors++;
            return false;
        }
    }

    /**
     * Forgets frames in flight (new connection). `close` also closes the decoder.
     * @private
     */
    resetPipeline(/** @type {boolean} */ close) {
        this.queue = [];
        this.awaiting = [];
        this.concealRun = 0;
        this.lastSamples = null;
        if (this.decoder && this.decoder.state !== 'closed') {
            try {
                if (close) this.decoder.close();
                else this.decoder.reset(); // back to unconfigured: ensureDecoder configures it again
            } catch {
                // already closed by an error
            }
        }
        if (close) this.decoder = null;
    }

    /** @private */
    onBinary(/** @type {ArrayBuffer} */ buf, /** @type {number} */ receivedMs) {
        let m;
        try {
            m = decodeAudio(buf, this.lastSeq);
        } catch (e) {
            this.counters.invalidMessages++;
            this.sink?.error({ type: 'invalid_message', message: e instanceof WireError ? e.message : String(e) });
            return;
        }
        const h = m.header;
        this.counters.messages++;
        this.counters.bytes += buf.byteLength;
        this.codec = h.codec;
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
            this.lastSeq = f.seq;
            this.counters.framesReceived++;
            if (!f.conceal) {
                if (h.codec === 'opus') {
                    if (this.ensureDecoder(h.sampleRate, h.channels) && this.decoder) {
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
        this.sink?.error({ type: 'decoder', message: `Opus decoding failed: ${e instanceof Error ? e.message : e}` });
        this.drain();
    }

    /** Hands on every frame that is ready, and the notices between them, in sequence. @private */
    drain() {
        while (this.queue.length) {
            const f = this.queue[0];
            if ('notice' in f) {
                this.queue.shift();
                this.sink?.status(f.notice);
                continue;
            }
            if (!f.conceal && !f.samples) break;
            this.queue.shift();
            let samples;
            if (f.conceal) {
                samples = this.conceal(f);
                this.counters.concealedFrames++;
                this.counters.concealedMs += f.frameMs;
            } else {
                samples = /** @type {Float32Array[]} */ (f.samples);
                if (this.concealRun > 0) {
                    const fade = Math.min(samples[0].length, Math.round((f.sampleRate * this.fadeInMs) / 1000));
                    for (const ch of samples) for (let i = 0; i < fade; i++) ch[i] *= i / fade;
                }
                this.concealRun = 0;
                this.lastSamples = samples;
            }
            this.sink?.frame({ seq: f.seq, captureMs: f.captureMs, sampleRate: f.sampleRate, samples, receivedMs: f.receivedMs, decodedMs: f.decodedMs ?? nowMs() });
        }
    }

    /**
     * A stand-in for a missing frame: the last frame backwards, then forwards (so every
     * join is continuous), fading linearly to silence over two frames.
     * @private
     * @param {PendingFrame} f
     * @returns {Float32Array[]}
     */
    conceal(f) {
        const n = Math.round((f.sampleRate * f.frameMs) / 1000);
        const k = ++this.concealRun;
        const src = this.lastSamples;
        const out = [];
        const g0 = Math.max(0, 1 - (k - 1) / 2);
        const g1 = Math.max(0, 1 - k / 2);
        for (let c = 0; c < f.channels; c++) {
            const o = new Float32Array(n);
            const s = src ? src[Math.min(c, src.length - 1)] : null;
            if (s && s.length && g0 > 0) {
                const len = s.length;
                for (let i = 0; i < n; i++) {
                    const j = i % len;
                    o[i] = s[k % 2 === 1 ? len - 1 - j : j] * (g0 + ((g1 - g0) * i) / n);
                }
            }
            out.push(o);
        }
        return out;
    }
}

/** {@link WsOpusSource} asking for `rung=pcm16`: for browsers without Opus in WebCodecs. */
export class WsPcm16Source extends WsOpusSource {
    /**
     * @param {string} baseUrl
     * @param {string|null} token
     * @param {string} streamId
     * @param {WsSourceOptions} [options]
     */
    constructor(baseUrl, token, streamId, options = {}) {
        super(baseUrl, token, streamId, { ...options, rung: 'pcm16' });
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
 * @property {number} [streamChannels]  the stream's channels (asked from /api/streams when missing)
 * @property {'auto'|'ws-opus'|'ws-pcm16'|'sse-pcm16'} [transport]  default `auto`: WebSocket
 *           Opus when this browser decodes Opus (WebCodecs), else WebSocket PCM16; SSE PCM16
 *           when the WebSocket cannot connect
 * @property {WsSourceOptions} [ws]   WebSocket tuning (rung, batch — default 1 frame per message)
 * @property {PlayerSource} [source]  a source of your own (overrides `transport`)
 * @property {boolean} [measureLatency]  keep per-frame glass-to-glass records ({@link Player.latencyRecords})
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
 * @property {number} framesSkipped    frames the server skipped (lagged, paused), jumped over
 * @property {number} framesDropped
 * @property {number} rate             playback speed correction (1 = none)
 * @property {string|null} codec       what the transport carries (opus, pcm16)
 * @property {string|null} rung        the server's rung (WebSocket)
 * @property {number|null} rttMs       round trip to the server (WebSocket ping/pong)
 * @property {number|null} clockOffsetMs  server clock − this clock, estimated from ping/pong (not applied to latencyMs)
 * @property {[number, number]|null} jitterBoundsMs  the jitter buffer's target bounds [min, max] (null before the worklet reports)
 */

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
        /** @type {Record<string, any>} */
        this.worklet = {};
        this.reportTimer = /** @type {any} */ (null);
        /** @type {LatencyRecord[]} with `measureLatency`: the last 10,000 frames played */
        this.latencyRecords = [];
        /** @type {Map<number, {receivedMs: number|null, decodedMs: number|null}>} */
        this.frameTimes = new Map();
        /** @type {JitterBounds|null} the jitter buffer's bounds from the server's advice (with the user's) */
        this.jitterBounds = null;
        /** @type {(stats: PlayerStats) => void} */
        this.onStats = () => {};
        /** @type {(error: {type: string, message: string}) => void} */
        this.onError = () => {};
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
        const ctx = new AudioContext({ sampleRate, latencyHint: 'interactive' });
        this.ctx = ctx;
        const resumed = ctx.resume();
        const url = this.options.workletUrl ?? new URL('./worklet.js', import.meta.url);
        await ctx.audioWorklet.addModule(url);
        const node = new AudioWorkletNode(ctx, 'ondes-player', {
            numberOfInputs: 0,
            numberOfOutputs: 1,
            outputChannelCount: [channels],
            processorOptions: { channels, frameMs, jitter: this.options.jitter ?? {}, measureLatency: !!this.options.measureLatency },
        });
        this.node = node;
        node.port.onmessage = (e) => {
            if (e.data?.type === 'stats') {
                if (e.data.outputs) this.recordOutputs(e.data.outputs);
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
            status: (s) => this.handleStatus(s),
            jitterBounds: (b) => this.applyJitterBounds(b),
            state: (s) => {
                this.connection = s;
                if (s === 'ended' || s === 'failed' || s === 'reconnecting') node.port.postMessage({ type: 'idle' });
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
                if (this.state === 'stopped') return; // stop() was called meanwhile
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
    handleStatus(/** @type {{status: string, [k: string]: unknown}} */ s) {
        if (!this.node) return;
        const port = this.node.port;
        // a paused stream drains without counting underruns
        if (s.status === 'paused') port.postMessage({ type: 'idle' });
        if (skippedFrames(s) > 0) {
            // the frames after this notice continue from live (or from where the pause
            // ended): the jitter buffer jumps over the gap instead of counting it lost
            port.postMessage({ type: 'skip' });
        } else if (s.status === 'resumed') {
            // resumed without a count: whatever gap follows is not lost either
            port.postMessage({ type: 'resync' });
        }
    }

    /**
     * The server's advice, as bounds ({@link adviceBounds}): with the user's own
     * (`options.jitter.minTargetMs/maxTargetMs`, {@link withUserBounds}) to the jitter buffer.
     * @private
     */
    applyJitterBounds(/** @type {JitterBounds} */ advised) {
        const b = withUserBounds(advised, /** @type {any} */ (this.options.jitter ?? {}));
        this.jitterBounds = b;
        this.node?.port.postMessage({ type: 'bounds', minMs: b.minMs, maxMs: b.maxMs });
    }

    /** @private */
    handleFrame(/** @type {DecodedFrame} */ f) {
        if (!this.ctx || !this.node) return;
        this.framesReceived++;
        if (this.options.measureLatency) {
            this.frameTimes.set(f.seq, { receivedMs: f.receivedMs ?? null, decodedMs: f.decodedMs ?? null });
            if (this.frameTimes.size > 2000) this.frameTimes.delete(/** @type {number} */ (this.frameTimes.keys().next().value));
        }
        const samples = this.resampler.process(f.samples, f.sampleRate, this.ctx.sampleRate);
        // copied by structured clone: the source may keep its own references
        this.node.port.postMessage({ type: 'frame', seq: f.seq, captureMs: f.captureMs, samples });
    }

    /** @private */
    recordOutputs(/** @type {{seq: number, captureMs: number, outputMs: number}[]} */ outputs) {
        for (const o of outputs) {
            const t = this.frameTimes.get(o.seq);
            this.latencyRecords.push({ seq: o.seq, captureMs: o.captureMs, receivedMs: t?.receivedMs ?? null, decodedMs: t?.decodedMs ?? null, outputMs: o.outputMs });
        }
        if (this.latencyRecords.length > 10000) this.latencyRecords.splice(0, this.latencyRecords.length - 10000);
    }

    /** Stops playback and closes the connection and the audio context. */
    async stop() {
        clearInterval(this.reportTimer);
        this.reportTimer = null;
        this.source?.stop();
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
        const t = this.source?.stats?.() ?? {};
        return {
            state: this.state,
            source: this.source?.name ?? 'none',
            connection: this.connection,
            sampleRate: ctx?.sampleRate ?? 0,
            bufferMs: w.levelMs ?? 0,
            targetMs: w.targetMs ?? 0,
            delayMs: w.delayMs ?? 0,
            jitterMs: w.jitterMs ?? 0,
            latencyMs,
            outputLatencyMs,
            underruns: w.underruns ?? 0,
            // the jitter buffer's concealment plus the source's (missing Opus packets)
            concealedMs: (w.concealedMs ?? 0) + (t.concealedMs ?? 0),
            framesReceived: this.framesReceived,
            framesLate: w.framesLate ?? 0,
            framesMissing: (w.framesMissing ?? 0) + (t.lostFrames ?? 0),
            framesSkipped: w.framesSkipped ?? 0,
            framesDropped: w.framesDropped ?? 0,
            rate: w.rate ?? 1,
            codec: t.codec ?? (this.source?.name === 'sse-pcm16' ? 'pcm16' : null),
            rung: t.rung ?? null,
            rttMs: t.rttMs ?? null,
            clockOffsetMs: t.clockOffsetMs ?? null,
            jitterBoundsMs: typeof w.minTargetMs === 'number' ? [w.minTargetMs, w.maxTargetMs] : null,
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
            e2e_latency_ms: s.latencyMs === null ? null : Math.round(s.latencyMs * 10) / 10,
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
