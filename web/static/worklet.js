// @ts-nocheck — AudioWorkletGlobalScope (sampleRate, currentFrame, registerProcessor)
/**
 * The Player's audio worklet: frames in (port messages), 128-sample render quanta out,
 * through the adaptive {@link JitterBuffer}. Arrival times are taken on the audio clock
 * (`currentFrame`), so irregular pulls by the audio device count as jitter as well.
 *
 * Messages in:  {type:'frame', seq, captureMs, samples: Float32Array[]} | {type:'idle'} | {type:'resync'} |
 *               {type:'reset'} | {type:'stop'}
 * Messages out: {type:'stats', ...JitterBufferStats, at: Date.now()} four times a second.
 */
import { JitterBuffer } from './jitter-buffer.js';

class OndesPlayerProcessor extends AudioWorkletProcessor {
    constructor(options) {
        super();
        const o = options.processorOptions || {};
        this.jb = new JitterBuffer({ ...(o.jitter || {}), sampleRate, channels: o.channels ?? 2, frameMs: o.frameMs ?? 20 });
        this.statsEvery = Math.round((sampleRate * (o.statsIntervalMs ?? 250)) / 1000);
        this.sinceStats = this.statsEvery; // first stats at once
        this.running = true;
        this.port.onmessage = (e) => this.onMessage(e.data);
    }

    onMessage(m) {
        switch (m?.type) {
            case 'frame':
                this.jb.push({ seq: m.seq, captureMs: m.captureMs, samples: m.samples }, (currentFrame / sampleRate) * 1000);
                break;
            case 'idle':
                this.jb.markIdle();
                break;
            case 'resync':
                this.jb.resync();
                break;
            case 'reset':
                this.jb.reset();
                break;
            case 'stop':
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
        }
        if (this.sinceStats >= this.statsEvery) {
            this.sinceStats = 0;
            this.port.postMessage({ type: 'stats', ...this.jb.stats(), at: Date.now() });
        }
        return this.running;
    }
}

registerProcessor('ondes-player', OndesPlayerProcessor);
