// @ts-check
/**
 * AudioStreamClient: the ondes Server-Sent Events contract in the browser.
 *
 * ```js
 * import { AudioStreamClient } from 'http://HOST/client.js';
 * const client = new AudioStreamClient('http://HOST', token, { streamId: 'main', format: 'lightweight', maxFps: 25 });
 * client.onFrame = (f) => draw(f.channel_a, f.channel_b);
 * client.onStatus = (s) => console.log(s.status);         // paused, resumed, quality, lagged, gap, …
 * await client.connect();                                   // resolves on the `connected` event
 * await client.sendCommand('pause');                        // POST …/control with the Bearer token
 * ```
 *
 * - The token (if any) goes in the `access_token` query parameter (EventSource cannot send
 *   headers) and as `Authorization: Bearer` on `sendCommand`.
 * - Reconnection is ours, not the browser's: on any failure the EventSource is closed and
 *   reopened after an exponential backoff with jitter (`reconnectBaseMs · 2^attempt`,
 *   capped at `reconnectMaxMs`, times a random factor in [0.5, 1]), up to
 *   `maxReconnectAttempts` attempts in a row; it resumes after the last frame received
 *   (`last_event_id=frame-N`), which the server honours while the frames are in its ring.
 * - Every `audio-frame` is validated (numbers where numbers belong, sample arrays of the
 *   announced length, decodable `pcm16`); malformed frames are counted and dropped.
 * - Frames are normalised: `channel_a` / `channel_b` are always present (decoded from
 *   `pcm16` when needed; mono repeats `channel_a`), plus `received_at` and `latency_ms`.
 * - History is bounded (`historySize` frames).
 * - Event names, status values and the control command body come from `protocol.js`, which
 *   also validates each `status` notice before it changes the client's state.
 */

import { SSE_EVENT, STATUS, parseSseStatus, controlCommand } from './protocol.js';

/**
 * @typedef {object} ClientOptions
 * @property {string} [streamId]             stream id (default "main")
 * @property {'json'|'lightweight'|'pcm16'} [format]  sample format (default "json")
 * @property {number} [maxFps]               merge frames so at most this many events/s arrive
 * @property {number} [maxReconnectAttempts] attempts in a row before giving up (default 10)
 * @property {number} [reconnectBaseMs]      first backoff (default 500)
 * @property {number} [reconnectMaxMs]       largest backoff (default 15000)
 * @property {number} [historySize]          frames kept (default 100)
 * @property {number} [statsIntervalMs]      onStats period (default 1000; 0 = never)
 * @property {number} [stallMs]              no frame for this long while live = "source lost" (default 3000; 0 = off)
 * @property {typeof EventSource} [EventSource]  for tests / other environments
 * @property {typeof fetch} [fetch]
 */

/**
 * @typedef {object} AudioFrame
 * @property {number} frame_number   first frame of the event
 * @property {number} frames         frames merged in this event (max_fps)
 * @property {number} timestamp      capture time of the first frame (ms since the epoch)
 * @property {number} [capture_us]
 * @property {number} sample_rate
 * @property {number} channels
 * @property {number} duration_ms    of the whole event
 * @property {string} format
 * @property {ArrayLike<number>} channel_a
 * @property {ArrayLike<number>} channel_b
 * @property {number} received_at    ms since the epoch
 * @property {number} latency_ms     from the capture of the last frame to reception
 */

/**
 * @typedef {'idle'|'connecting'|'live'|'paused'|'source-lost'|'reconnecting'|'ended'|'failed'|'closed'} ClientState
 *
 * `source-lost`: the server said so (`status` event `source-lost`, until `source-restored`
 * or the next frame), or no frame came for `stallMs` while live.
 */

/**
 * @typedef {object} ClientStats
 * @property {ClientState} state
 * @property {string|null} connectionId
 * @property {number} framesReceived      audio frames (a merged event counts its frames)
 * @property {number} eventsReceived      audio-frame events
 * @property {number} missingFrames       frames never received (sequence gaps)
 * @property {number} invalidFrames       malformed events dropped
 * @property {number} duplicateFrames     frames received twice (dropped)
 * @property {number} skippedWhilePaused  frames the server skipped because the stream was paused
 * @property {number} reconnects          successful reconnections
 * @property {number} reconnectAttempt    current attempt (0 when connected)
 * @property {number|null} lastFrameNumber
 * @property {number|null} latencyMs      of the last event
 * @property {number|null} avgLatencyMs   over the last second or so
 * @property {number} fps                 audio frames per second (last 2 s)
 * @property {number} eventsPerSecond
 * @property {number} bytesReceived       approximate (event text)
 * @property {number} kbps                over the last 2 s
 * @property {number|null} connectedAt    ms since the epoch
 */

/** An HTTP API error (`{"error", "message"}` from the server), with its status. */
export class OndesApiError extends Error {
    /**
     * @param {number} status
     * @param {string} code
     * @param {string} message
     */
    constructor(status, code, message) {
        super(`${status} ${code}: ${message}`);
        this.name = 'OndesApiError';
        this.status = status;
        this.code = code;
        this.detail = message;
    }
}

/** Decodes base64 s16le interleaved into planar Float32Arrays. */
export function decodePcm16(/** @type {string} */ b64, /** @type {number} */ channels) {
    const bin = atob(b64);
    if (bin.length % (2 * channels) !== 0) throw new Error('pcm16 length is not a whole number of samples');
    const n = bin.length / (2 * channels);
    /** @type {Float32Array[]} */
    const out = [];
    for (let c = 0; c < channels; c++) out.push(new Float32Array(n));
    let p = 0;
    for (let i = 0; i < n; i++) {
        for (let c = 0; c < channels; c++) {
            let v = bin.charCodeAt(p) | (bin.charCodeAt(p + 1) << 8);
            if (v >= 0x8000) v -= 0x10000;
            out[c][i] = v / 32768;
            p += 2;
        }
    }
    return out;
}

/** Root-mean-square of a sample array (0 for an empty one). */
export function rms(/** @type {ArrayLike<number>} */ x) {
    if (!x || x.length === 0) return 0;
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * x[i];
    return Math.sqrt(s / x.length);
}

/** Milliseconds since the epoch, sub-millisecond where the platform allows. */
export const nowMs = () => (globalThis.performance?.timeOrigin ? performance.timeOrigin + performance.now() : Date.now());

const isNum = (/** @type {unknown} */ v) => typeof v === 'number' && Number.isFinite(v);
const isInt = (/** @type {unknown} */ v) => Number.isInteger(v) && /** @type {number} */ (v) >= 0;

/**
 * Validates and normalises an `audio-frame` payload; returns the frame or a reason.
 * @param {any} d parsed JSON
 * @param {number} receivedAt
 * @returns {{frame: AudioFrame} | {error: string}}
 */
export function validateFrame(d, receivedAt) {
    if (!d || typeof d !== 'object') return { error: 'not an object' };
    if (!isInt(d.frame_number)) return { error: 'frame_number is not a non-negative integer' };
    if (!isNum(d.timestamp) || d.timestamp <= 0) return { error: 'timestamp is not a positive number' };
    if (!isInt(d.sample_rate) || d.sample_rate < 1000 || d.sample_rate > 384000) return { error: 'bad sample_rate' };
    if (!isNum(d.duration_ms) || d.duration_ms <= 0 || d.duration_ms > 60000) return { error: 'bad duration_ms' };
    const frames = d.frames ?? 1;
    if (!isInt(frames) || frames < 1) return { error: 'bad frames' };
    const channels = d.channels ?? 2;
    if (channels !== 1 && channels !== 2) return { error: 'channels must be 1 or 2' };
    const expected = (d.sample_rate * d.duration_ms) / 1000;
    /** @type {ArrayLike<number>} */
    let a;
    /** @type {ArrayLike<number>} */
    let b;
    if (typeof d.pcm16 === 'string') {
        let planar;
        try {
            planar = decodePcm16(d.pcm16, channels);
        } catch (e) {
            return { error: `pcm16 does not decode: ${e instanceof Error ? e.message : e}` };
        }
        a = planar[0];
        b = planar[1] ?? planar[0];
    } else {
        a = d.channel_a;
        b = d.channel_b ?? d.channel_a;
        if (!Array.isArray(a) || !Array.isArray(b)) return { error: 'channel_a/channel_b are not arrays' };
        if (a.length !== b.length) return { error: 'channel_a and channel_b differ in length' };
        for (let i = 0; i < a.length; i++) {
            if (typeof a[i] !== 'number' || typeof b[i] !== 'number') return { error: `sample ${i} is not a number` };
        }
    }
    if (Math.abs(a.length - expected) > frames + 1) {
        return { error: `${a.length} samples per channel, expected ${expected} for ${d.duration_ms} ms at ${d.sample_rate} Hz` };
    }
    const captureFirst = isNum(d.capture_us) ? d.capture_us / 1000 : d.timestamp;
    const captureLast = captureFirst + (d.duration_ms * (frames - 1)) / frames;
    return {
        frame: {
            ...d,
            frames,
            channels,
            format: d.format ?? (typeof d.pcm16 === 'string' ? 'pcm16' : 'json'),
            channel_a: a,
            channel_b: b,
            received_at: receivedAt,
            latency_ms: receivedAt - captureLast,
        },
    };
}

export class AudioStreamClient {
    /**
     * @param {string} baseUrl   server origin, e.g. "http://127.0.0.1:8080" ("" = this page's origin)
     * @param {string|null} [authToken]  JWT (needs `subscribe` if the server requires it, `stream_control` for commands)
     * @param {ClientOptions} [options]
     */
    constructor(baseUrl, authToken = null, options = {}) {
        this.baseUrl = (baseUrl || '').replace(/\/+$/, '');
        this.authToken = authToken || null;
        this.streamId = options.streamId ?? 'main';
        this.format = options.format ?? 'json';
        this.maxFps = options.maxFps ?? null;
        this.maxReconnectAttempts = options.maxReconnectAttempts ?? 10;
        this.reconnectBaseMs = options.reconnectBaseMs ?? 500;
        this.reconnectMaxMs = options.reconnectMaxMs ?? 15000;
        this.historySize = Math.max(1, options.historySize ?? 100);
        this.statsIntervalMs = options.statsIntervalMs ?? 1000;
        this.stallMs = options.stallMs ?? 3000;
        this.EventSourceImpl = options.EventSource ?? globalThis.EventSource;
        this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);

        /** @type {(frame: AudioFrame) => void} */
        this.onFrame = () => {};
        /** @type {(stats: ClientStats) => void} */
        this.onStats = () => {};
        /** @type {(error: {type: string, message: string, error?: unknown}) => void} */
        this.onError = () => {};
        /** @type {(info: {connectionId: string, reconnect: boolean}) => void} */
        this.onConnect = () => {};
        /** @type {(info: {reason: string, willReconnect: boolean}) => void} */
        this.onDisconnect = () => {};
        /** @type {(status: {status: string, [k: string]: unknown}) => void} */
        this.onStatus = () => {};
        /** @type {(state: ClientState, previous: ClientState) => void} */
        this.onStateChange = () => {};

        /** @type {ClientState} */
        this.state = 'idle';
        /** @type {EventSource|null} */
        this.es = null;
        /** @type {AudioFrame[]} */
        this.history = [];
        this.lastEventId = /** @type {string|null} */ (null);
        this.expectedNext = /** @type {number|null} */ (null);
        this.firstAfterConnect = true;
        this.attempt = 0;
        this.everConnected = false;
        this.reconnectTimer = /** @type {any} */ (null);
        this.statsTimer = /** @type {any} */ (null);
        this.stallTimer = /** @type {any} */ (null);
        this.stableTimer = /** @type {any} */ (null);
        this.paused = false;
        /** recent events for rates: [receivedAt, frames, bytes, latency] */
        this.recent = /** @type {[number, number, number, number][]} */ ([]);
        this.counters = {
            framesReceived: 0,
            eventsReceived: 0,
            missingFrames: 0,
            invalidFrames: 0,
            duplicateFrames: 0,
            skippedWhilePaused: 0,
            reconnects: 0,
            bytesReceived: 0,
        };
        this.connectionId = /** @type {string|null} */ (null);
        this.connectedAt = /** @type {number|null} */ (null);
        this.latencyMs = /** @type {number|null} */ (null);
        /** @type {((v: void) => void)|null} */
        this.connectResolve = null;
        /** @type {((e: Error) => void)|null} */
        this.connectReject = null;
    }

    /** URL of the SSE endpoint, with the query for format, max_fps, token and resume. */
    streamUrl() {
        const q = new URLSearchParams();
        q.set('format', this.format);
        if (this.maxFps) q.set('max_fps', String(this.maxFps));
        if (this.authToken) q.set('access_token', this.authToken);
        if (this.lastEventId) q.set('last_event_id', this.lastEventId);
        return `${this.baseUrl}/api/streams/${encodeURIComponent(this.streamId)}/stream?${q}`;
    }

    /**
     * Opens the stream. Resolves once the server's `connected` event arrives; rejects if the
     * first connection and all its retries fail.
     * @returns {Promise<void>}
     */
    connect() {
        if (this.es && this.state !== 'failed' && this.state !== 'closed') return Promise.resolve();
        this.attempt = 0;
        this.setState('connecting');
        const p = new Promise((resolve, reject) => {
            this.connectResolve = resolve;
            this.connectReject = reject;
        });
        this.open();
        if (this.statsIntervalMs > 0 && !this.statsTimer) {
            this.statsTimer = setInterval(() => this.safe(() => this.onStats(this.getStats())), this.statsIntervalMs);
        }
        return p;
    }

    /** Closes the stream; no reconnection. */
    disconnect() {
        const wasOpen = !!this.es;
        this.closeSource();
        clearTimeout(this.reconnectTimer);
        clearInterval(this.statsTimer);
        clearTimeout(this.stallTimer);
        this.reconnectTimer = this.statsTimer = this.stallTimer = null;
        this.setState('closed');
        if (wasOpen) this.safe(() => this.onDisconnect({ reason: 'closed by the client', willReconnect: false }));
        this.connectReject?.(new Error('disconnected'));
        this.connectResolve = this.connectReject = null;
    }

    /** @private */
    open() {
        this.closeSource();
        const ES = this.EventSourceImpl;
        if (!ES) throw new Error('EventSource is not available in this environment');
        const es = new ES(this.streamUrl());
        this.es = es;
        this.firstAfterConnect = true;
        es.addEventListener('message', (e) => {
            if (this.es !== es) return;
            if (e.data === SSE_EVENT.CONNECTED) this.handleConnected(e.lastEventId);
        });
        es.addEventListener(SSE_EVENT.AUDIO_FRAME, (e) => {
            if (this.es === es) this.handleFrame(/** @type {MessageEvent} */ (e));
        });
        es.addEventListener(SSE_EVENT.STATUS, (e) => {
            if (this.es === es) this.handleStatus(/** @type {MessageEvent} */ (e).data);
        });
        // both the browser's failure event and the server's `event: error`
        es.addEventListener(SSE_EVENT.ERROR, (e) => {
            if (this.es !== es) return;
            const data = /** @type {MessageEvent} */ (e).data;
            if (typeof data === 'string') {
                // the server's own `event: error`: the stream is ending
                this.handleServerError(data);
            } else {
                this.handleFailure('the connection failed or was closed');
            }
        });
    }

    /** @private */
    closeSource() {
        clearTimeout(this.stableTimer);
        if (this.es) {
            this.es.close();
            this.es = null;
        }
    }

    /** @private */
    handleConnected(/** @type {string} */ id) {
        const reconnect = this.everConnected;
        this.everConnected = true;
        this.connectionId = id || null;
        this.connectedAt = nowMs();
        if (reconnect) this.counters.reconnects++;
        this.setState(this.paused ? 'paused' : 'live');
        this.armStall();
        this.safe(() => this.onConnect({ connectionId: id, reconnect }));
        this.connectResolve?.();
        this.connectResolve = this.connectReject = null;
        // forget past failures once this connection has proved itself
        const es = this.es;
        clearTimeout(this.stableTimer);
        this.stableTimer = setTimeout(() => {
            if (this.es === es && es) this.attempt = 0;
        }, 5000);
    }

    /** @private */
    handleFrame(/** @type {MessageEvent} */ e) {
        const now = nowMs();
        const raw = typeof e.data === 'string' ? e.data : '';
        const bytes = raw.length + (e.lastEventId?.length ?? 0) + 32;
        this.counters.bytesReceived += bytes;
        let parsed;
        try {
            parsed = JSON.parse(raw);
        } catch {
            parsed = null;
        }
        const v = validateFrame(parsed, now);
        if ('error' in v) {
            this.counters.invalidFrames++;
            this.safe(() => this.onError({ type: 'invalid_frame', message: `malformed audio-frame dropped: ${v.error}` }));
            return;
        }
        const f = v.frame;
        if (e.lastEventId) this.lastEventId = e.lastEventId;
        // sequence: gaps are missing frames; the first frame after a (re)connection may
        // restart the numbering (server restarted), anything else older is a duplicate
        if (this.expectedNext !== null) {
            if (f.frame_number > this.expectedNext) {
                this.counters.missingFrames += f.frame_number - this.expectedNext;
            } else if (f.frame_number < this.expectedNext && !this.firstAfterConnect) {
                this.counters.duplicateFrames += f.frames;
                return;
            }
        }
        this.firstAfterConnect = false;
        this.expectedNext = f.frame_number + f.frames;
        this.counters.framesReceived += f.frames;
        this.counters.eventsReceived++;
        this.latencyMs = f.latency_ms;
        this.recent.push([now, f.frames, bytes, f.latency_ms]);
        this.history.push(f);
        if (this.history.length > this.historySize) this.history.splice(0, this.history.length - this.historySize);
        this.paused = false;
        if (this.state !== 'live') this.setState('live');
        this.armStall();
        this.safe(() => this.onFrame(f));
    }

    /** @private */
    handleStatus(/** @type {string} */ data) {
        const parsed = parseSseStatus(data);
        if ('error' in parsed) {
            this.safe(() => this.onError({ type: 'invalid_status', message: `malformed status notice ignored: ${parsed.error}` }));
            return;
        }
        /** @type {{status: string, [k: string]: any}} */
        const s = parsed.message;
        switch (s.status) {
            case STATUS.PAUSED:
                this.paused = true;
                this.setState('paused');
                break;
            case STATUS.RESUMED:
                this.paused = false;
                if (typeof s.skipped_while_paused === 'number') this.counters.skippedWhilePaused += s.skipped_while_paused;
                // frames skipped while paused are not lost: start counting afresh
                if (s.skipped_while_paused !== undefined) this.expectedNext = null;
                if (this.state === 'paused') this.setState('live');
                break;
            case STATUS.GAP:
                // resume failed (frames gone, or a restarted server): continue at live
                if (s.missed_frames === null || s.missed_frames === undefined) this.expectedNext = null;
                break;
            case STATUS.SOURCE_LOST:
                this.setState('source-lost');
                break;
            case STATUS.SOURCE_RESTORED:
                if (this.state === 'source-lost') this.setState(this.paused ? 'paused' : 'live');
                break;
            default:
                break;
        }
        if (s.status === STATUS.RESUMED || s.status === STATUS.SOURCE_RESTORED) this.armStall();
        this.safe(() => this.onStatus(s));
    }

    /** @private */
    handleServerError(/** @type {string} */ data) {
        const message = data.replace(/^error:\s*/, '');
        this.safe(() => this.onError({ type: 'server', message }));
        if (/stream ended|removed/.test(message)) {
            this.closeSource();
            clearTimeout(this.stallTimer);
            this.setState('ended');
            this.safe(() => this.onDisconnect({ reason: message, willReconnect: false }));
            return;
        }
        // e.g. "the server is shutting down": it may come back
        this.handleFailure(message);
    }

    /** @private */
    handleFailure(/** @type {string} */ reason) {
        if (this.state === 'closed' || this.state === 'ended' || this.state === 'failed') return;
        this.closeSource();
        clearTimeout(this.stallTimer);
        const wasConnected = this.state !== 'connecting' && this.state !== 'reconnecting';
        if (this.attempt >= this.maxReconnectAttempts) {
            this.setState('failed');
            const message = `gave up after ${this.attempt} reconnection attempts: ${reason}`;
            this.safe(() => this.onError({ type: 'reconnect_failed', message }));
            this.safe(() => this.onDisconnect({ reason: message, willReconnect: false }));
            this.connectReject?.(new Error(message));
            this.connectResolve = this.connectReject = null;
            return;
        }
        const delay = this.backoffMs(this.attempt);
        this.attempt++;
        this.setState('reconnecting');
        if (wasConnected) this.safe(() => this.onDisconnect({ reason, willReconnect: true }));
        this.safe(() => this.onError({ type: 'connection', message: `${reason}; reconnecting in ${Math.round(delay)} ms (attempt ${this.attempt} of ${this.maxReconnectAttempts})` }));
        clearTimeout(this.reconnectTimer);
        this.reconnectTimer = setTimeout(() => {
            this.reconnectTimer = null;
            if (this.state === 'reconnecting') this.open();
        }, delay);
    }

    /** Backoff before attempt `n` (0-based): exponential, capped, with jitter in [0.5, 1]. */
    backoffMs(/** @type {number} */ n) {
        const d = Math.min(this.reconnectMaxMs, this.reconnectBaseMs * 2 ** n);
        return d * (0.5 + 0.5 * Math.random());
    }

    /** "source lost": connected, not paused, and no frame for `stallMs` (heartbeats prove the connection, not the audio). @private */
    armStall() {
        clearTimeout(this.stallTimer);
        if (this.stallMs <= 0) return;
        this.stallTimer = setTimeout(() => {
            if (this.state === 'live') {
                this.setState('source-lost');
                this.safe(() => this.onStatus({ status: STATUS.SOURCE_LOST, message: `no audio for ${this.stallMs / 1000} s`, detected_by: 'client' }));
            }
        }, this.stallMs);
    }

    /** @private */
    setState(/** @type {ClientState} */ s) {
        if (s === this.state) return;
        const prev = this.state;
        this.state = s;
        this.safe(() => this.onStateChange(s, prev));
    }

    /** Runs a user callback; its exceptions are reported, never break the client. @private */
    safe(/** @type {() => void} */ fn) {
        try {
            fn();
        } catch (e) {
            if (typeof console !== 'undefined') console.warn('ondes client callback threw', e);
        }
    }

    /** @returns {ClientStats} */
    getStats() {
        const now = nowMs();
        const horizon = now - 2000;
        let i = 0;
        while (i < this.recent.length && this.recent[i][0] < horizon) i++;
        if (i) this.recent.splice(0, i);
        // rates over the last 2 s, or since the connection opened if that is more recent
        const span = Math.max(0.5, (now - Math.max(horizon, this.connectedAt ?? horizon)) / 1000);
        let frames = 0;
        let bytes = 0;
        let lat = 0;
        for (const r of this.recent) {
            frames += r[1];
            bytes += r[2];
            lat += r[3];
        }
        return {
            state: this.state,
            connectionId: this.connectionId,
            ...this.counters,
            reconnectAttempt: this.attempt,
            lastFrameNumber: this.expectedNext === null ? this.history.at(-1)?.frame_number ?? null : this.expectedNext - 1,
            latencyMs: this.latencyMs,
            avgLatencyMs: this.recent.length ? lat / this.recent.length : null,
            fps: frames / span,
            eventsPerSecond: this.recent.length / span,
            kbps: (bytes * 8) / span / 1000,
            connectedAt: this.connectedAt,
        };
    }

    /**
     * POSTs a control command (`ACTION` of `protocol.js`: `pause`, `resume`,
     * `adjust_quality` with `{quality}`).
     * Resolves with the server's JSON; rejects with an {@link OndesApiError} carrying the
     * HTTP status (401 without a token, 403 without `stream_control`, 400 for a bad action).
     * @param {string} action
     * @param {Record<string, unknown>} [params]
     */
    async sendCommand(action, params) {
        /** @type {Record<string, string>} */
        const headers = { 'Content-Type': 'application/json' };
        if (this.authToken) headers.Authorization = `Bearer ${this.authToken}`;
        const url = `${this.baseUrl}/api/streams/${encodeURIComponent(this.streamId)}/control`;
        let resp;
        try {
            resp = await this.fetchImpl(url, { method: 'POST', headers, body: JSON.stringify(controlCommand(action, params)) });
        } catch (e) {
            const err = new OndesApiError(0, 'network_error', `could not reach ${url}: ${e instanceof Error ? e.message : e}`);
            this.safe(() => this.onError({ type: 'command', message: err.message, error: err }));
            throw err;
        }
        let body = null;
        try {
            body = await resp.json();
        } catch {
            body = null;
        }
        if (!resp.ok) {
            const err = new OndesApiError(resp.status, body?.error ?? 'http_error', body?.message ?? resp.statusText);
            this.safe(() => this.onError({ type: 'command', message: err.message, error: err }));
            throw err;
        }
        return body;
    }

    /** The most recent frame, or null. */
    getLatestFrame() {
        return this.history.length ? this.history[this.history.length - 1] : null;
    }

    /** The last `n` frames (oldest first; all kept frames without `n`). */
    getFrameHistory(/** @type {number} */ n = this.history.length) {
        return n >= this.history.length ? this.history.slice() : this.history.slice(this.history.length - Math.max(0, n));
    }

    /**
     * RMS of a channel of a frame (default: the latest).
     * @param {'a'|'b'|0|1|'channel_a'|'channel_b'} [channel]
     * @param {AudioFrame|null} [frame]
     */
    calculateRMS(channel = 'a', frame = this.getLatestFrame()) {
        if (!frame) return 0;
        const b = channel === 'b' || channel === 1 || channel === 'channel_b';
        return rms(b ? frame.channel_b : frame.channel_a);
    }
}
