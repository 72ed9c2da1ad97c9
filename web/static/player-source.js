// @ts-check
/**
 * The contract between the Player and its sources: what a source implements and what it
 * hands the Player. Types only — the sources that come with ondes are `ws-source.js`
 * (WebSocket, Opus or 16-bit PCM) and `sse-source.js` (SSE, 16-bit PCM); a source of your
 * own passed as `PlayerOptions.source` implements {@link PlayerSource} the same way.
 *
 * Kept apart from any one source so that a custom source, the Player and the sources
 * shipped here all refer to one definition.
 */

/**
 * A frame ready to play: decoded (or concealed) PCM with its capture time.
 * @typedef {object} DecodedFrame
 * @property {number} seq            frame number
 * @property {number} captureMs      capture time of the first sample (ms since the epoch)
 * @property {number} sampleRate
 * @property {Float32Array[]} samples  planar, one array per channel
 * @property {number} [receivedMs]   when its message arrived (ms since the epoch), if the source knows
 * @property {number} [decodedMs]    when it was decoded, if the source knows
 */

/**
 * A status notice handed on in order with the frames: the server's `status` messages
 * (`protocol.js` `STATUS`), and `rung` messages as `{status: 'rung', ...message}`.
 * @typedef {{status: string, [k: string]: unknown}} SourceNotice
 */

/**
 * Where a source delivers what it receives.
 * @typedef {object} PlayerSink
 * @property {(frame: DecodedFrame) => void} frame
 * @property {(status: SourceNotice) => void} status
 * @property {(state: string) => void} state     the connection state (client states)
 * @property {(error: {type: string, message: string}) => void} error
 * @property {(bounds: import('./jitter-advice.js').JitterBounds) => void} [jitterBounds]  the jitter
 *           buffer's bounds the server's advice asks for (a source that gets advice calls it;
 *           see `adviceBounds` in `jitter-advice.js`)
 */

/**
 * A way to get decoded audio frames from the server.
 * @typedef {object} PlayerSource
 * @property {string} name
 * @property {(sink: PlayerSink) => Promise<void>} start  resolves when connected; rejects if it cannot connect (the Player then tries the next source)
 * @property {() => void} stop
 * @property {(report: import('./protocol.js').ReportMessage) => void} [sendReport]  tell the server how playout goes
 * @property {() => Record<string, any>} [stats]  transport statistics (codec, rung, rttMs, concealedMs, lostFrames…)
 */

export {};
