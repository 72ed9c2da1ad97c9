// @ts-nocheck — AudioWorkletGlobalScope (sampleRate, currentFrame, registerProcessor)
/**
 * The Player's audio worklet: frames in (port messages), 128-sample render quanta out,
 * through the adaptive {@link JitterBuffer}. Arrival times are taken on the audio clock
 * (`currentFrame`), so irregular pulls by the audio device count as jitter as well.
 *
 * The messages in and out are listed in `worklet-messages.js`. Out: `stats` with the
 * JitterBufferStats and `at: Date.now()` four times a second; with
 * `processorOptions.measureLatency`, also `outputs: [{seq, captureMs, outputMs}]`: when the
 * first sample of each frame was output (wall clock, ms) since the last stats message — the
 * glass-to-glass measurement, before the browser's own output latency
 * (`AudioContext.outputLatency + baseLatency`).
 */
import { JitterBuffer } from './jitter-buffer.js';
import { PROCESSOR_NAME, WORKLET_MSG } from './worklet-messages.js';

class OndesPlayerProcessor extends AudioWorkletProcessor {
    constructor(options) {
        super();
        const o = options.processorOptions || {};
        this.measure = !!o.measureLatency;
        this.jb = new JitterBuffer({ ...(o.jitter || {}), sampleRate, channels: o.channels ?? 2, frameMs: o.frameMs ?? 20, trackOutput: this.measure });
        /** @type {{seq: number, captureMs: number, outputMs: number}[]} */
        this.outputs = [];
        // the wall clock, sub-millisecond when this scope has `performance`; otherwise
        // Date.now(), whose whole milliseconds are on average 0.5 ms behind the true time
        const perf = globalThis.performance;
        this.wallMs = perf && perf.timeOrigin ? () => perf.timeOrigin + perf.now() : () => Date.now() + 0.5;
        this.statsEvery = Math.round((sampleRate * (o.statsIntervalMs ?? 250)) / 1000);
        this.sinceStats = this.statsEvery; // first stats at once
        this.running = true;
        this.port.onmessage = (e) => this.onMessage(e.data);
    }

    onMessage(m) {
        switch (m?.type) {
            case WORKLET_MSG.FRAME:
                this.jb.push({ seq: m.seq, captureMs: m.captureMs, samples: m.samples }, (currentFrame / sampleRate) * 1000);
                break;
            case WORKLET_MSG.IDLE:
                this.jb.markIdle();
                break;
            case WORKLET_MSG.RESYNC:
                this.jb.resync();
                break;
            case WORKLET_MSG.SKIP:
                this.jb.senderSkipped();
                break;
            case WORKLET_MSG.BOUNDS:
                try {
                    this.jb.setBounds(m.minMs, m.maxMs);
                } catch {
                    // unusable bounds: keep the current ones
                }
                break;
            case WORKLET_MSG.RESET:
                this.jb.reset();
                break;
            case WORKLET_MSG.STOP:
                this.running = false;
                break;
            default:
                break;
        }
    }

    process(_inputs, outputs) {
        const out = outputs[0];
        if (out && out.length) {
            this.jb.pull(out);
            this.sinceStats += out[0].length;
            if (this.measure) {
                // this quantum is handed to the output now; a frame starting at `offset`
                // within it comes out offset/sampleRate later
                const now = this.wallMs();
                for (const f of this.jb.takeOutputs()) {
                    this.outputs.push({ seq: f.seq, captureMs: f.captureMs, outputMs: now + (f.offset / sampleRate) * 1000 });
                }
            }
        }
        if (this.sinceStats >= this.statsEvery) {
            this.sinceStats = 0;
            /** @type {Record<string, unknown>} */
            const m = { type: WORKLET_MSG.STATS, ...this.jb.stats(), at: Date.now() };
            if (this.measure) {
                m.outputs = this.outputs;
                m.wallClock = globalThis.performance && globalThis.performance.timeOrigin ? 'performance' : 'Date.now';
                this.outputs = [];
            }
            this.port.postMessage(m);
        }
        return this.running;
    }
}

registerProcessor(PROCESSOR_NAME, OndesPlayerProcessor);
