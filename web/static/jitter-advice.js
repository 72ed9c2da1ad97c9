// @ts-check
/**
 * From the server's jitter advice to the jitter buffer's bounds, as ondes-core's
 * `JitterAdvice::bounds_us` computes them, so that the browser plans with the same floor
 * as the server's rate controller; and the user's own bounds on top, as
 * `ondes listen --min-jitter/--max-jitter` does. Pure functions (the advice itself is read
 * by `protocol.js`, `parseJitterAdvice`).
 */

/** @typedef {import('./protocol.js').JitterAdvice} JitterAdvice */

/**
 * Bounds of the jitter buffer's target, ms.
 * @typedef {object} JitterBounds
 * @property {number} minMs
 * @property {number} maxMs
 */

/**
 * The bounds the advice asks of a client that receives `messageMs` of audio per message
 * (batch × frame) and measured a round trip of `rttMs`. A batch arrives all at once, so
 * the buffer must hold at least a message, and a TCP retransmission costs about a round
 * trip: the floor covers both, and the server's target.
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
 * The advised bounds with the user's own (`PlayerOptions.jitter.minTargetMs/maxTargetMs`):
 * the user's minimum is an extra floor, the user's maximum replaces the advised one; the
 * floor never exceeds the ceiling.
 * @param {JitterBounds} advised
 * @param {{minTargetMs?: number, maxTargetMs?: number}} [user]
 * @returns {JitterBounds}
 */
export function withUserBounds(advised, user = {}) {
    const maxMs = typeof user.maxTargetMs === 'number' ? user.maxTargetMs : advised.maxMs;
    const minMs = Math.max(typeof user.minTargetMs === 'number' ? user.minTargetMs : 0, advised.minMs);
    return { minMs: Math.min(minMs, maxMs), maxMs };
}
