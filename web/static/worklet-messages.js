// @ts-check
/**
 * The messages between the Player (main thread) and its audio worklet (`worklet.js`), over
 * the AudioWorkletNode's port. Both sides import this module, so the two threads agree on
 * every name; it touches no browser API at load time, because the worklet's scope has none
 * of the page's.
 *
 * To the worklet:
 *   `frame`  {seq, captureMs, samples: Float32Array[]}  a frame to play (samples copied by
 *            structured clone, so the sender may keep its own references)
 *   `idle`   the source is paused or gone: drain without counting underruns
 *   `resync` the next frame continues after a gap that is not loss (resumed without a count)
 *   `skip`   the server skipped frames before the next one (`JitterBuffer.senderSkipped`)
 *   `bounds` {minMs, maxMs} the target's bounds from the server's jitter advice (`JitterBuffer.setBounds`)
 *   `reset`  start over
 *   `stop`   end the processor
 * From the worklet:
 *   `stats`  the jitter buffer's statistics and `at` (Date.now()), four times a second; with
 *            `measureLatency`, also `outputs: [{seq, captureMs, outputMs}]`
 */

/** The name the worklet registers its processor under. */
export const PROCESSOR_NAME = 'ondes-player';

export const WORKLET_MSG = Object.freeze({
    FRAME: 'frame',
    IDLE: 'idle',
    RESYNC: 'resync',
    SKIP: 'skip',
    BOUNDS: 'bounds',
    RESET: 'reset',
    STOP: 'stop',
    STATS: 'stats',
});

/**
 * @param {number} seq
 * @param {number} captureMs
 * @param {Float32Array[]} samples
 */
export const frameMessage = (seq, captureMs, samples) => ({ type: WORKLET_MSG.FRAME, seq, captureMs, samples });

/** @param {{minMs: number, maxMs: number}} b */
export const boundsMessage = (b) => ({ type: WORKLET_MSG.BOUNDS, minMs: b.minMs, maxMs: b.maxMs });

/** A message without fields: `idle`, `resync`, `skip`, `reset`, `stop`. */
export const signal = (/** @type {string} */ type) => ({ type });
