// @ts-nocheck — AudioWorkletGlobalScope (sampleRate, registerProcessor)
/**
 * Finds the bursts of ondes's `marker` source in whatever audio reaches it (a Player's
 * worklet, a WebRTC track, an <audio> element playing HLS or DASH) and tells, on the wall
 * clock, when each burst's first sample arrived here.
 *
 * An onset is the first sample whose magnitude exceeds `threshold` within `armMs` of the
 * end of at least `quietMs` below `quietLevel` (the burst's first samples, and a codec's
 * pre-echo, lie between the two levels). Its wall time is taken as the existing glass-to-glass bench takes a
 * frame's output: the wall clock when the render quantum holding it is processed, plus the
 * sample's offset in the quantum. The burst's tone (counted as upward zero crossings over
 * its `burstMs`) tells which of the marker's `steps` tones it is, so the page can find the
 * period it started in even when it arrives more than one period late.
 *
 * Out (port): `{type: 'onset', wallMs, ups, peak}` once per burst, after `burstMs`.
 * The output is silence: the node is connected to the destination only so that it is pulled.
 */
class MarkerDetector extends AudioWorkletProcessor {
    constructor(options) {
        super();
        const o = options.processorOptions || {};
        this.threshold = o.threshold ?? 0.1;
        this.quietLevel = o.quietLevel ?? 0.02;
        this.quietNeeded = Math.round((sampleRate * (o.quietMs ?? 200)) / 1000);
        this.burstSamples = Math.round((sampleRate * (o.burstMs ?? 10)) / 1000);
        this.armSamples = Math.round((sampleRate * (o.armMs ?? 5)) / 1000);
        this.quiet = 0;
        // samples left in which a threshold crossing is an onset (after enough quiet)
        this.armed = 0;
        /** @type {{wallMs: number, ups: number, left: number, prev: number, peak: number}|null} */
        this.burst = null;
        // the wall clock, sub-millisecond when this scope has `performance`; otherwise
        // Date.now(), whose whole milliseconds are on average 0.5 ms behind the true time
        const perf = globalThis.performance;
        this.wallMs = perf && perf.timeOrigin ? () => perf.timeOrigin + perf.now() : () => Date.now() + 0.5;
    }

    process(inputs) {
        const input = inputs[0];
        if (!input || input.length === 0) {
            // nothing connected or the source is inactive: silence
            this.quiet += 128;
            return true;
        }
        const now = this.wallMs();
        const n = input[0].length;
        for (let i = 0; i < n; i++) {
            // the marker puts the same burst on every channel: take the loudest
            let x = input[0][i];
            for (let c = 1; c < input.length; c++) if (Math.abs(input[c][i]) > Math.abs(x)) x = input[c][i];
            const a = Math.abs(x);
            const b = this.burst;
            if (b) {
                if (b.prev <= 0 && x > 0) b.ups++;
                b.prev = x;
                if (a > b.peak) b.peak = a;
                if (--b.left <= 0) {
                    this.port.postMessage({ type: 'onset', wallMs: b.wallMs, ups: b.ups, peak: b.peak });
                    this.burst = null;
                }
            } else {
                if (a >= this.quietLevel && this.quiet >= this.quietNeeded) this.armed = this.armSamples;
                if (a > this.threshold && this.armed > 0) {
                    this.burst = { wallMs: now + (i / sampleRate) * 1000, ups: 0, left: this.burstSamples, prev: x, peak: a };
                    this.armed = 0;
                } else if (this.armed > 0) {
                    this.armed--;
                }
            }
            this.quiet = a < this.quietLevel ? this.quiet + 1 : 0;
        }
        return true;
    }
}

registerProcessor('ondes-marker-detector', MarkerDetector);
