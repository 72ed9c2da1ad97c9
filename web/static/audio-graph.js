// @ts-check
/**
 * The Player's audio output:
 *
 *   AudioWorkletNode `worklet.js` (adaptive jitter buffer) ──▶ GainNode (volume)
 *        ──▶ AnalyserNode (level, tests) ──▶ speakers
 *
 * The AudioContext runs at the stream's own rate with the `interactive` latency hint, so
 * that frames need no resampling and the browser adds as little output latency as it can.
 * Opening the context and building the graph are two steps: the context must be created
 * and resumed while the page still holds the user's click (autoplay policy), before the
 * worklet module loads.
 */

import { PROCESSOR_NAME } from './worklet-messages.js';

/**
 * A context at the stream's rate; call `resume()` on it at once.
 * @param {number} sampleRate
 */
export function openAudioContext(sampleRate) {
    return new AudioContext({ sampleRate, latencyHint: 'interactive' });
}

/**
 * @typedef {object} PlayoutGraphOptions
 * @property {number} channels        output channels
 * @property {number} frameMs         the stream's frame duration
 * @property {Record<string, any>} jitter  jitter buffer tuning (`PlayerOptions.jitter`)
 * @property {boolean} measureLatency  the worklet reports when each frame's first sample leaves it
 * @property {number} volume          0..1
 * @property {string|URL} [workletUrl]  default: worklet.js next to this module
 */

/**
 * Loads the worklet and connects worklet → gain → analyser → destination.
 * @param {AudioContext} ctx
 * @param {PlayoutGraphOptions} o
 * @returns {Promise<{node: AudioWorkletNode, gain: GainNode, analyser: AnalyserNode}>}
 */
export async function buildPlayoutGraph(ctx, o) {
    await ctx.audioWorklet.addModule(o.workletUrl ?? new URL('./worklet.js', import.meta.url));
    const node = new AudioWorkletNode(ctx, PROCESSOR_NAME, {
        numberOfInputs: 0,
        numberOfOutputs: 1,
        outputChannelCount: [o.channels],
        processorOptions: { channels: o.channels, frameMs: o.frameMs, jitter: o.jitter, measureLatency: o.measureLatency },
    });
    const gain = new GainNode(ctx, { gain: o.volume });
    const analyser = new AnalyserNode(ctx, { fftSize: 2048 });
    node.connect(gain).connect(analyser).connect(ctx.destination);
    return { node, gain, analyser };
}

/**
 * What the browser adds after the worklet (`outputLatency + baseLatency`), ms; 0 without a context.
 * @param {AudioContext|null} ctx
 */
export function outputLatencyMs(ctx) {
    return ctx ? ((ctx.outputLatency || 0) + (ctx.baseLatency || 0)) * 1000 : 0;
}

/**
 * RMS of the output over the analyser's window (0..1); 0 without an analyser.
 * @param {AnalyserNode|null} analyser
 */
export function outputRms(analyser) {
    if (!analyser) return 0;
    const buf = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(buf);
    let s = 0;
    for (const v of buf) s += v * v;
    return Math.sqrt(s / buf.length);
}
