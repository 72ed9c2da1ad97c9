// @ts-check
/**
 * The Player's WebSocket sources, protocol v1 (docs/protocol.md): `GET /api/streams/{id}/ws`.
 * This file is the connection — URL, reconnection, the text messages both ways, the jitter
 * advice; the audio goes through `decode-queue.js`, the round trip through `round-trip.js`.
 *
 * - Binary audio messages are parsed by `wire.js` and decoded in sequence by a
 *   {@link DecodeQueue} (Opus by WebCodecs, PCM converted, empty Opus packets concealed and
 *   counted in `concealedMs`/`lostFrames`).
 * - Text messages are read by `protocol.js`: `info` (codec, rung, layout), `status`
 *   (paused, resumed, lagged, source-lost, source-restored), `rung`, `pong`, `error`. It
 *   sends `ping` every second and the Player's `report` with `rtt_ms` added. Statuses reach
 *   the sink in order with the frames (after those still being decoded), so that `lagged`
 *   comes right before the first frame after the skip and `paused` after the last one.
 * - Jitter advice (`jitter` in `info`, and in a `rung` message when the client should take
 *   new bounds; a `rung` without it keeps them): the source turns it into bounds with the
 *   audio per message (`batch` × `frame_ms`, the batch of the latest `info`/`rung`) and
 *   the round trip of this connection's first ping (`adviceBounds`; 0 until it is
 *   measured, then the bounds are sent again once) and gives them to `sink.jitterBounds`.
 * - A connection that worked and then closed is reopened with exponential backoff and
 *   jitter (like `AudioStreamClient`); `stream_ended` is final. A first connection that
 *   fails rejects `start()`, so that the Player can fall back to SSE.
 */

import { nowMs } from './client.js';
import { decodeAudio, WireError } from './wire.js';
import { MSG, STATUS, ERROR, parseServerMessage, reportMessage, skippedFrames } from './protocol.js';
import { adviceBounds } from './jitter-advice.js';
import { DecodeQueue } from './decode-queue.js';
import { RoundTripMeter } from './round-trip.js';

/** @typedef {import('./player-source.js').PlayerSink} PlayerSink */
/** @typedef {import('./jitter-advice.js').JitterBounds} JitterBounds */
/** @typedef {import('./protocol.js').JitterAdvice} JitterAdvice */

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

/** WebSocket source: Opus decoded by WebCodecs, and whatever PCM the server sends instead. */
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
        /** @type {PlayerSink|null} */
        this.sink = null;
        /** @type {WebSocket|null} */
        this.ws = null;
        /** @type {import('./protocol.js').InfoMessage|null} the server's latest `info` message */
        this.info = null;
        /** @type {string|null} codec of the last audio message (or of `info`) */
        this.codec = null;
        this.rungName = /** @type {string|null} */ (null);
        this.state = 'idle';
        this.stopped = false;
        this.everConnected = false;
        this.attempt = 0;
        this.lastSeq = /** @type {number|null} */ (null);
        this.decoding = new DecodeQueue(
            {
                frame: (f) => this.sink?.frame(f),
                notice: (n) => this.sink?.status(n),
                error: (e) => this.sink?.error(e),
            },
            { fadeInMs: options.fadeInMs },
        );
        this.roundTrip = new RoundTripMeter();
        /** @type {JitterAdvice|null} the server's latest jitter advice */
        this.advice = null;
        /** frames per message, from the latest `info` or `rung` message */
        this.messageBatch = /** @type {number|null} */ (null);
        /** the round trip the advice is combined with: this connection's first ping's (the
         * Rust client uses its handshake's; a ping is the browser's nearest equivalent) */
        this.adviceRttMs = /** @type {number|null} */ (null);
        /** @type {JitterBounds|null} the bounds last given to the sink */
        this.advisedBounds = null;
        this.timers = { ping: /** @type {any} */ (null), connect: /** @type {any} */ (null), reconnect: /** @type {any} */ (null) };
        /** @type {((v: void) => void)|null} */
        this.startResolve = null;
        /** @type {((e: Error) => void)|null} */
        this.startReject = null;
        this.counters = {
            messages: 0,
            bytes: 0,
            framesReceived: 0,
            invalidMessages: 0,
            reconnects: 0,
            serverSkippedFrames: 0,
            /** frames a reconnection could not get back (`gap` after resuming with last_seq) */
            resumeMissedFrames: 0,
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
        // a reconnection resumes after the last frame received (its low 32 bits, as the wire
        // carries them: the server extends them against its own numbering), so that frames
        // still in the server's ring are not lost and a restart's gap is reported (`gap`)
        if (this.lastSeq !== null) u.searchParams.set('last_seq', String(this.lastSeq % 4294967296));
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
        this.decoding.reset(true);
        this.setState('closed');
        this.startReject?.(new Error('stopped'));
        this.startResolve = this.startReject = null;
    }

    /**
     * Sends the Player's report (the protocol's `report` message) with the RTT.
     * @param {import('./protocol.js').ReportMessage} report
     */
    sendReport(report) {
        this.send(reportMessage(report, this.roundTrip.rttMs));
    }

    /** Transport statistics, merged into the Player's. */
    stats() {
        const rt = this.roundTrip;
        return {
            codec: this.codec,
            rung: this.rungName,
            batch: this.messageBatch ?? this.info?.batch ?? this.batch,
            jitterAdvice: this.advice,
            advisedBoundsMs: this.advisedBounds ? [this.advisedBounds.minMs, this.advisedBounds.maxMs] : null,
            connectionId: this.info?.connection_id ?? null,
            rttMs: rt.rttMs,
            minRttMs: rt.minRttMs,
            clockOffsetMs: rt.clockOffsetMs,
            lostFrames: this.decoding.counters.concealedFrames,
            ...this.counters,
            ...this.decoding.counters,
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

    /**
     * A text message: checked by `protocol.js`; a malformed one is counted and changes
     * nothing, one of a type this client does not know is ignored.
     * @private
     */
    onText(/** @type {string} */ text) {
        const parsed = parseServerMessage(text);
        if ('error' in parsed) {
            this.counters.invalidMessages++;
            return;
        }
        const m = /** @type {any} */ (parsed.message);
        switch (m.type) {
            case MSG.INFO:
                this.onInfo(m);
                break;
            case MSG.STATUS:
                this.onStatus(m);
                break;
            case MSG.RUNG:
                this.onRung(m);
                break;
            case MSG.PONG:
                this.onPong(m);
                break;
            case MSG.ERROR:
                this.sink?.error({ type: 'server', message: `${m.error}: ${m.message ?? ''}` });
                if (m.error === ERROR.STREAM_ENDED) {
                    this.stopped = true; // final: no reconnection
                    this.setState('ended');
                }
                break;
            default:
                break;
        }
    }

    /** @private */
    onInfo(/** @type {import('./protocol.js').InfoMessage} */ m) {
        clearTimeout(this.timers.connect);
        this.info = m;
        this.codec = m.codec;
        this.rungName = m.rung;
        this.lastSeq = null;
        this.decoding.reset(false);
        if (m.codec === 'opus' && !this.decoding.configureOpus(m.sample_rate, m.channels)) {
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
        this.advice = m.jitter;
        this.adviceRttMs = null;
        if (this.advice) this.applyAdvice();
        clearInterval(this.timers.ping);
        this.ping();
        this.timers.ping = setInterval(() => this.ping(), this.pingIntervalMs);
        this.startResolve?.();
        this.startResolve = this.startReject = null;
    }

    /** @private */
    onStatus(/** @type {import('./protocol.js').StatusMessage} */ m) {
        switch (m.status) {
            case STATUS.PAUSED:
                this.setState('paused');
                break;
            case STATUS.RESUMED:
                this.setState('live');
                break;
            case STATUS.SOURCE_LOST:
                this.setState('source-lost');
                break;
            case STATUS.SOURCE_RESTORED:
                this.setState(this.info?.paused ? 'paused' : 'live');
                break;
            default:
                break;
        }
        if (this.info && (m.status === STATUS.PAUSED || m.status === STATUS.RESUMED)) this.info = { ...this.info, paused: m.status === STATUS.PAUSED };
        this.counters.serverSkippedFrames += skippedFrames(m);
        if (m.status === STATUS.GAP && typeof m.missed_frames === 'number') this.counters.resumeMissedFrames += m.missed_frames;
        // in order with the frames: after those that arrived before it
        this.decoding.pushNotice(m);
    }

    /** @private */
    onRung(/** @type {import('./protocol.js').RungMessage} */ m) {
        this.rungName = m.rung;
        if (typeof m.batch === 'number' && m.batch > 0) this.messageBatch = m.batch;
        // new bounds only when the server sends advice with the rung (a profile change, or
        // a floor it deepens or relaxes on purpose); without, keep them
        if (m.jitter) {
            this.advice = m.jitter;
            this.applyAdvice();
        }
        this.sink?.status({ status: MSG.RUNG, ...m });
    }

    /** @private */
    onClosed(/** @type {string} */ reason) {
        clearInterval(this.timers.ping);
        clearTimeout(this.timers.connect);
        this.info = null;
        this.decoding.reset(false);
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

    /** Sends a message once the connection is up (after `info`); false when it could not. @private */
    send(/** @type {object} */ msg) {
        const ws = this.ws;
        if (!ws || ws.readyState !== 1 || !this.info) return false;
        ws.send(JSON.stringify(msg));
        return true;
    }

    /** Sends a `ping` (every `pingIntervalMs` while connected). */
    ping() {
        this.roundTrip.ping((msg) => this.send(msg));
    }

    /** @private */
    onPong(/** @type {import('./protocol.js').PongMessage} */ m) {
        const rtt = this.roundTrip.pong(m);
        if (rtt === null) return;
        if (this.adviceRttMs === null) {
            // the bounds so far assumed no round trip: once, now that one is known
            this.adviceRttMs = rtt;
            if (this.advice) this.applyAdvice();
        }
    }

    /**
     * Gives the sink the bounds the current advice asks for (`adviceBounds`).
     * @private
     */
    applyAdvice() {
        if (!this.advice) return;
        const frameMs = typeof this.info?.frame_ms === 'number' && this.info.frame_ms > 0 ? this.info.frame_ms : 20;
        const batch = Math.max(1, this.messageBatch ?? 1);
        this.advisedBounds = adviceBounds(this.advice, batch * frameMs, this.adviceRttMs ?? 0);
        this.sink?.jitterBounds?.(this.advisedBounds);
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
        this.counters.messages++;
        this.counters.bytes += buf.byteLength;
        this.counters.framesReceived += m.frames.length;
        this.codec = m.header.codec;
        this.lastSeq = m.header.firstSeq + m.frames.length - 1;
        this.decoding.pushMessage(m, receivedMs);
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
