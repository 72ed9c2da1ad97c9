// @ts-check
/**
 * The JSON control messages of ondes (docs/protocol.md), mirrored for the JS client: the
 * names on the wire, small constructors for what a listener sends, and parsers that
 * validate what it receives. `wire.js` is the binary audio message; this module is
 * everything else the client reads or writes as JSON:
 *
 * - WebSocket text messages, server → listener: `info`, `status`, `rung`, `pong`, `error`;
 *   listener → server: `report`, `ping`.
 * - The SSE stream's `status` events (the same status vocabulary, without `type`).
 * - The body of `POST /api/streams/{id}/control` (`{"action", "params"}`).
 *
 * The JS client listens only, so the publisher's messages (`ack`, `backpressure`,
 * `resume`) are not mirrored here.
 *
 * Why one module: every string the server and the client must agree on is written once,
 * so a typo is an import error rather than a status that silently never matches, and a
 * malformed message is rejected in one place before any state is changed by it.
 *
 * Parsers accept more than they check: fields they do not know pass through untouched, and
 * a message `type` they do not know passes unvalidated, so that a newer server can add
 * fields and messages without breaking an older page (a client ignores what it does not
 * know).
 *
 * It imports nothing, so that `client.js` and this file are all an application needs to
 * copy to embed the SSE client.
 */

/** The protocol version in the server's `info` message (and the binary header). */
export const PROTOCOL_VERSION = 1;

/** The `type` of every WebSocket text message, both directions. */
export const MSG = Object.freeze({
    /** server → listener: the connection's stream, codec, rung, layout and jitter advice */
    INFO: 'info',
    /** server → listener: a delivery notice (see {@link STATUS}) */
    STATUS: 'status',
    /** server → listener: the listener was moved to another quality rung */
    RUNG: 'rung',
    /** server → listener: the answer to a `ping` */
    PONG: 'pong',
    /** server → listener: a problem; `stream_ended` is final */
    ERROR: 'error',
    /** listener → server: how playout goes, about once a second */
    REPORT: 'report',
    /** listener → server: a round-trip measurement */
    PING: 'ping',
});

/**
 * The `status` values of a status notice (WebSocket `status` message, SSE `status` event).
 * `quality` comes over SSE only (over a WebSocket a quality change is a `rung` message);
 * `gap` answers a resume (SSE `Last-Event-ID`, WebSocket `last_seq`) whose frames are gone.
 */
export const STATUS = Object.freeze({
    /** the stream is paused: no audio until `resumed` */
    PAUSED: 'paused',
    /** audio again; `skipped_while_paused` frames were skipped (or, SSE resume, `missed_frames`) */
    RESUMED: 'resumed',
    /** this listener fell behind and skipped `skipped_frames` frames to reach live */
    LAGGED: 'lagged',
    /** the source (a publisher) is gone; silence until it returns */
    SOURCE_LOST: 'source-lost',
    /** the source is back */
    SOURCE_RESTORED: 'source-restored',
    /** the frames asked for with Last-Event-ID or last_seq are gone (`missed_frames`, null when unknown) */
    GAP: 'gap',
    /** SSE: the stream's quality cap changed (`quality`, and the `sample_rate` now delivered) */
    QUALITY: 'quality',
    /** speech (`POST …/say`) begins: the next audio is utterance `id` */
    UTTERANCE_START: 'utterance-start',
    /** utterance `id`'s audio ended (`interrupted`: cut short by a barge-in or a failed engine) */
    UTTERANCE_END: 'utterance-end',
});

/** The codecs an `info` message may name: those of the binary audio message (`wire.js`). */
export const CODECS = Object.freeze(['pcm16', 'opus', 'f32']);

/** Older spellings of status values, read as the current ones. */
const STATUS_ALIASES = Object.freeze({ source_lost: STATUS.SOURCE_LOST, source_restored: STATUS.SOURCE_RESTORED });

/** The `error` codes of the server's `error` message that a client acts on. */
export const ERROR = Object.freeze({
    /** the stream ended for good: do not reconnect */
    STREAM_ENDED: 'stream_ended',
    /** the server is stopping; it may come back */
    SHUTTING_DOWN: 'shutting_down',
    /** a text message of ours was not JSON */
    BAD_JSON: 'bad_json',
    /** a text message of ours had a type the server does not know */
    UNKNOWN_MESSAGE: 'unknown_message',
    /** we sent a binary message on a listener's socket */
    UNEXPECTED_BINARY: 'unexpected_binary',
});

/** The named quality levels, lowest first: `quality=` on listener URLs and `adjust_quality`. */
export const QUALITY_LEVELS = Object.freeze(['low', 'medium', 'high', 'lossless']);

/** The actions of `POST /api/streams/{id}/control`. */
export const ACTION = Object.freeze({
    PAUSE: 'pause',
    RESUME: 'resume',
    /** with `params: {quality}`: a level (see {@link QUALITY_LEVELS}) or a share of the rate in (0, 1] */
    ADJUST_QUALITY: 'adjust_quality',
});

/** The SSE stream's event names, and the `data` of its first, unnamed event. */
export const SSE_EVENT = Object.freeze({
    AUDIO_FRAME: 'audio-frame',
    STATUS: 'status',
    /** `data: error: <message>`: the stream is ending (or the server stopping) */
    ERROR: 'error',
    HEARTBEAT: 'heartbeat',
    /** the `data` of the unnamed first event; its `id` is the connection id */
    CONNECTED: 'connected',
});

// ---------------------------------------------------------------------------------------
// message shapes

/**
 * The server's jitter-buffer advice (`jitter` in `info` and `rung`; ondes-core's
 * `JitterAdvice`). See `jitter-advice.js` for the bounds it asks for.
 * @typedef {object} JitterAdvice
 * @property {number} target_ms   the floor the server asks for (its profile's target, or its controller's)
 * @property {number} max_ms      the profile's ceiling of the buffer delay
 * @property {number} rtts        round trips of margin the floor must also cover (TCP retransmissions)
 */

/**
 * @typedef {object} InfoMessage
 * @property {'info'} type
 * @property {number} [protocol]
 * @property {string} [stream]
 * @property {string} [connection_id]
 * @property {'pcm16'|'opus'|'f32'} codec
 * @property {string} rung              `pcm16` or an Opus rung's kbit/s
 * @property {string[]} [rungs]
 * @property {number} sample_rate
 * @property {number} channels
 * @property {number} frame_ms
 * @property {number} [batch]           frames per message
 * @property {boolean} [paused]
 * @property {boolean} [source_lost]
 * @property {boolean} [adaptive]
 * @property {string|null} [profile]
 * @property {JitterAdvice|null} jitter null when absent or unusable (an older server)
 */

/**
 * A delivery notice. Over a WebSocket it has `type: 'status'`; an SSE `status` event has
 * no `type`.
 * @typedef {object} StatusMessage
 * @property {'status'} [type]
 * @property {string} status             one of {@link STATUS} (others pass through)
 * @property {number} [skipped_frames]   `lagged`
 * @property {number} [skipped_while_paused]  `resumed`
 * @property {number|null} [missed_frames]    SSE `resumed`/`gap`
 * @property {number} [quality]          SSE `quality`: the share of the sample rate delivered
 * @property {string} [level]            SSE `quality`: the named level, when the cap was set as one
 * @property {string} [message]
 */

/**
 * @typedef {object} RungMessage
 * @property {'rung'} type
 * @property {string} rung
 * @property {string} [profile]
 * @property {number} [batch]
 * @property {number} [jitter_target_ms]
 * @property {JitterAdvice|null} jitter  new bounds to take; null: keep the current ones
 * @property {'up'|'down'} [direction]
 * @property {string} [code]
 * @property {string} [reason]
 */

/**
 * @typedef {object} PongMessage
 * @property {'pong'} type
 * @property {number} id
 * @property {number|null} [client_ts_us]
 * @property {number} [server_ts_us]
 */

/**
 * @typedef {object} ErrorMessage
 * @property {'error'} type
 * @property {string} error     a code, e.g. {@link ERROR.STREAM_ENDED}
 * @property {string} [message]
 */

/**
 * A message whose type this client does not know (from a newer server): ignore it.
 * @typedef {{type: string, [k: string]: unknown}} OtherMessage
 */

/** @typedef {InfoMessage|StatusMessage|RungMessage|PongMessage|ErrorMessage|OtherMessage} ServerMessage */

/**
 * What a listener reports (docs/protocol.md `report`); counters are cumulative.
 * @typedef {object} ReportMessage
 * @property {'report'} type
 * @property {number} buffer_ms        audio queued in the jitter buffer
 * @property {number} target_ms        the jitter buffer's target
 * @property {number} underruns        since playing started
 * @property {number} concealed_ms     audio synthesised instead of received
 * @property {number} late_frames      frames that came after their turn (dropped)
 * @property {number} lost_frames      frames never received
 * @property {number} received_frames
 * @property {number} [accelerated_ms]  audio cut from frames played shortened (pitch kept) to drain excess delay
 * @property {number} [dropped_ms]      audio dropped at once to bring a delay far above the target down
 * @property {number|null} [e2e_latency_ms]  capture → speaker, when known (the server's
 *           end-to-end latency metric)
 * @property {number} [rtt_ms]         round trip, from the client's pings
 */

/**
 * @typedef {object} PingMessage
 * @property {'ping'} type
 * @property {number} id
 * @property {number} client_ts_us   the client's clock when sent, µs since the epoch
 */

// ---------------------------------------------------------------------------------------
// what a listener sends

/**
 * A `ping`; the server answers with a `pong` echoing `id` and `client_ts_us`.
 * @param {number} id
 * @param {number} clientMs   the client's clock when sent, ms since the epoch
 * @returns {PingMessage}
 */
export function pingMessage(id, clientMs) {
    return { type: MSG.PING, id, client_ts_us: Math.round(clientMs * 1000) };
}

/**
 * A `report`: the playout figures, with the round trip when one was measured.
 * @param {Omit<ReportMessage, 'type'|'rtt_ms'> & {type?: string}} figures
 * @param {number|null} [rttMs]
 * @returns {ReportMessage}
 */
export function reportMessage(figures, rttMs = null) {
    return {
        ...figures,
        type: MSG.REPORT,
        ...(typeof rttMs === 'number' && Number.isFinite(rttMs) ? { rtt_ms: Math.round(rttMs * 100) / 100 } : {}),
    };
}

/**
 * The body of `POST …/control`. The action is not checked here: the server answers an
 * unknown one with a 400 that says what it accepts.
 * @param {string} action   one of {@link ACTION}
 * @param {Record<string, unknown>} [params]  e.g. `{quality: 0.5}` for `adjust_quality`
 */
export function controlCommand(action, params) {
    return params ? { action, params } : { action };
}

// ---------------------------------------------------------------------------------------
// what a listener receives

const isNum = (/** @type {unknown} */ v) => typeof v === 'number' && Number.isFinite(v);
const isCount = (/** @type {unknown} */ v) => Number.isInteger(v) && /** @type {number} */ (v) >= 0;
const isPositive = (/** @type {unknown} */ v) => isNum(v) && /** @type {number} */ (v) > 0;
const isOptional = (/** @type {unknown} */ v, /** @type {(v: unknown) => boolean} */ ok) => v === undefined || v === null || ok(v);

/**
 * The advice in a server message, or null when it has none (an older server) or it is
 * unusable.
 * @param {unknown} j  the message's `jitter` field
 * @returns {JitterAdvice|null}
 */
export function parseJitterAdvice(j) {
    const ok = (/** @type {unknown} */ v) => isNum(v) && /** @type {number} */ (v) >= 0;
    if (!j || typeof j !== 'object') return null;
    const a = /** @type {Record<string, unknown>} */ (j);
    if (!ok(a.target_ms) || !ok(a.max_ms) || !ok(a.rtts)) return null;
    return { target_ms: /** @type {number} */ (a.target_ms), max_ms: /** @type {number} */ (a.max_ms), rtts: /** @type {number} */ (a.rtts) };
}

/**
 * Checks a status notice's body (an SSE `status` event's data parsed, or a WebSocket
 * `status` message). Old spellings of a status are read as the current ones.
 * @param {any} m
 * @returns {{message: StatusMessage} | {error: string}}
 */
export function validateStatus(m) {
    if (!m || typeof m !== 'object') return { error: 'a status notice is not an object' };
    if (typeof m.status !== 'string' || m.status === '') return { error: 'status is not a string' };
    for (const k of ['skipped_frames', 'skipped_while_paused', 'missed_frames']) {
        if (!isOptional(m[k], isCount)) return { error: `${k} is not a count` };
    }
    if (!isOptional(m.quality, isNum)) return { error: 'quality is not a number' };
    if (!isOptional(m.level, (x) => typeof x === 'string')) return { error: 'level is not a string' };
    const status = /** @type {Record<string, string>} */ (STATUS_ALIASES)[m.status] ?? m.status;
    return { message: status === m.status ? m : { ...m, status } };
}

/**
 * An SSE `status` event's data. Data that is not JSON is read as a bare status name (an
 * older server's notices were plain words).
 * @param {string} data
 * @returns {{message: StatusMessage} | {error: string}}
 */
export function parseSseStatus(data) {
    let m;
    try {
        m = JSON.parse(data);
    } catch {
        m = { status: String(data) };
    }
    return validateStatus(m);
}

/**
 * Checks a server → listener WebSocket message (parsed JSON) and normalises it: `rung` is
 * a string, `jitter` is a {@link JitterAdvice} or null, status spellings are current.
 * @param {any} m
 * @returns {{message: ServerMessage} | {error: string}}
 */
export function validateServerMessage(m) {
    if (!m || typeof m !== 'object' || Array.isArray(m)) return { error: 'not a JSON object' };
    if (typeof m.type !== 'string') return { error: 'no message type' };
    switch (m.type) {
        case MSG.INFO:
            if (!isOptional(m.protocol, isPositive)) return { error: 'info: protocol is not a number' };
            if (!CODECS.includes(m.codec)) return { error: `info: unknown codec ${JSON.stringify(m.codec)}` };
            if (typeof m.rung !== 'string' && !isNum(m.rung)) return { error: 'info: rung is not a string' };
            if (!isCount(m.sample_rate) || m.sample_rate === 0) return { error: 'info: bad sample_rate' };
            if (!isCount(m.channels) || m.channels < 1 || m.channels > 15) return { error: 'info: channels must be 1 to 15' };
            if (!isPositive(m.frame_ms)) return { error: 'info: bad frame_ms' };
            if (!isOptional(m.batch, isCount)) return { error: 'info: bad batch' };
            return { message: { ...m, rung: String(m.rung), jitter: parseJitterAdvice(m.jitter) } };
        case MSG.STATUS:
            return validateStatus(m);
        case MSG.RUNG:
            if (typeof m.rung !== 'string' && !isNum(m.rung)) return { error: 'rung: rung is not a string' };
            if (!isOptional(m.batch, isCount)) return { error: 'rung: bad batch' };
            return { message: { ...m, rung: String(m.rung), jitter: parseJitterAdvice(m.jitter) } };
        case MSG.PONG:
            if (!isNum(m.id)) return { error: 'pong: id is not a number' };
            if (!isOptional(m.server_ts_us, isNum)) return { error: 'pong: server_ts_us is not a number' };
            return { message: m };
        case MSG.ERROR:
            if (typeof m.error !== 'string') return { error: 'error: no error code' };
            return { message: m };
        default:
            return { message: m };
    }
}

/**
 * A WebSocket text message from the server: JSON, then {@link validateServerMessage}.
 * @param {string} text
 * @returns {{message: ServerMessage} | {error: string}}
 */
export function parseServerMessage(text) {
    let m;
    try {
        m = JSON.parse(text);
    } catch {
        return { error: 'not JSON' };
    }
    return validateServerMessage(m);
}

/**
 * Frames the server says it skipped before the frames that follow a status notice:
 * `lagged` (a listener that fell behind, moved to live) or `resumed` (frames skipped while
 * paused); 0 for any other notice.
 * @param {{status: string, [k: string]: unknown}} s
 */
export function skippedFrames(s) {
    const n = s.status === STATUS.LAGGED ? s.skipped_frames : s.status === STATUS.RESUMED ? s.skipped_while_paused : 0;
    return typeof n === 'number' && n > 0 ? n : 0;
}
