// @ts-check
/**
 * Adaptive jitter buffer: pure logic, no Web Audio, no timers, no clocks of its own.
 *
 * Time is always an argument (like the sans-IO state machines of ondes-core), so the same
 * module runs in the AudioWorklet (`worklet.js`) and in Node's test runner
 * (`tests/jitter-buffer.test.mjs`) with simulated time.
 *
 * ## Model
 *
 * Frames of `frameMs` arrive with a variable delay. For every frame we know its capture
 * time (`captureMs`, from the server) and its arrival time on the *playout clock*
 * (`nowMs`; in the worklet this is the audio clock, `currentFrame / sampleRate`, so that
 * irregular pulls by the audio device count as jitter too).
 *
 * - transit  = nowMs − captureMs (includes an unknown constant clock offset)
 * - base     = the smallest transit in the window (the "on time" arrival)
 * - jitter   = transit − base ≥ 0: how late this frame came compared with the best case
 *
 * The buffer must hold enough audio that a frame `jitter` ms late still arrives before it
 * is needed. The *playout delay* D is the audio still queued when an on-time frame arrives;
 * a frame late by J finds D − J queued, so no underrun needs D ≥ J. Hence:
 *
 * - `targetMs` = frameMs + quantile_q(jitter over the last `windowMs`) + `marginMs`
 *   (reported as a buffer level: the level right after an on-time frame arrives, D + F);
 *   it **grows at once** when the quantile grows and **shrinks slowly** (exponentially,
 *   time constant `shrinkTauMs`) when it falls, so a burst of jitter is remembered. It does
 *   not shrink below `initialTargetMs` before the jitter history covers a whole `windowMs`:
 *   a 99th percentile of two seconds of arrivals has not yet seen the occasional stall of a
 *   busy machine (a browser's main thread, a shared CPU), so the start stays conservative.
 * - `delayMs`  = the measured playout delay + frameMs, estimated at each arrival as
 *   (level before the push + this frame's jitter + frameMs), smoothed.
 * - The level is steered towards the target by playing slightly faster or slower
 *   (linear-interpolation resampling by at most ±`maxRateAdjust`, 2 % by default — inaudible
 *   for speech and monitoring, and it also absorbs clock drift between sender and sound card).
 * - A delay well above the target (more than half a frame, or a tenth of the target) is
 *   drained faster, as `jitter.rs` does: each arriving frame is shortened by up to
 *   `accelerateShare` of its length with the pitch kept (`stretch.js`, NetEQ's
 *   "accelerate"), so a second of excess goes in about two; more than `jumpExcessMs` above
 *   the target, the oldest audio is dropped at once down to the target.
 *
 * The exception to the slow shrink is a *faster path*. During a capacity drop the frames
 * queue and the transit rises; when the link recovers, the queue arrives in a burst and the
 * transit falls back to the fast link's. Measured from the new base, every frame of the
 * slower path still in the window would look like jitter, and the target would jump to the
 * queue's delay and keep the listener that late for ~10–20 s (the window, then the shrink).
 * But a queue left by a capacity drop is not jitter that will recur. So when the base falls
 * back near the fastest of the last 30 s (a sample of the base and the target is kept once a
 * second) from a slower path — by at least 50 ms and half the jitter before it, or by 30 ms
 * after a path slower for 5 s — the slower path's frames (those later than the calm target
 * above the new base) leave the window, and the target is set at once from what is left, no
 * lower than the calm target before the episode (its least over those 30 s); the drain then
 * brings the delay down within seconds. A lucky early frame on a jittery path is neither:
 * it counts as jitter, as before.
 *
 * Before the first start and after an underrun the buffer waits until it holds `targetMs`
 * (state `buffering`). An underrun while `playing` is counted once and concealed: the last
 * 10 ms are repeated with a fade to silence over `fadeMs`; when audio returns it fades in.
 * Everything synthesised instead of received is counted in `concealedMs`.
 *
 * Sequence numbers: a frame older than the last one played is dropped and counted
 * (`framesLate`; TCP transports never reorder, a future UDP one may); a jump forward is
 * counted in `framesMissing` and the timeline simply continues (the frames were skipped by
 * the server — lag or pause — so inserting silence for them would only add latency).
 * A jump far backwards (server restarted) restarts the sequence. `markIdle()` tells the
 * buffer that the source stopped on purpose (stream paused): draining then is not an
 * underrun; `resync()` after the pause: the frames skipped meanwhile are not lost.
 *
 * Skips, as in ondes-core's `jitter.rs`: a gap longer than `maxTargetMs`, or any gap after
 * {@link JitterBuffer.senderSkipped} (the server's `lagged` notice: a listener that fell
 * behind was moved to live), is a *jump*: counted in `framesSkipped`, not `framesMissing`,
 * and the timing history starts over after it (the transits before it describe another
 * regime, and the target they built — the delay that made the server skip — is dropped).
 * The frames buffered before the gap still play, then the first frame after it: the
 * timeline has no hole to conceal here, which is what `jump_to` achieves in the Rust buffer.
 *
 * The server may move the target's bounds (`jitter` advice in its `info`/`rung` messages):
 * {@link JitterBuffer.setBounds}. Not ported from the Rust buffer: its rebuffering when
 * arrivals run slower than real time (here an underrun waits for the target, plus a frame).
 */

import { compress } from './stretch.js';

/** How far back the calm target and the fastest base are looked for (ms). */
const CALM_MEMORY_MS = 30000;
/** One calm sample per this much arrival time (ms). */
const CALM_EVERY_MS = 1000;
/** Falls of the base within this long of the first one are one fall (ms). */
const FALL_WINDOW_MS = 2000;
/** A sudden fall this large (and at least half the jitter before it) is a faster path (ms). */
const PATH_FALL_MS = 50;
/** A path slower than the fastest this long is a path, whatever its jitter (ms)… */
const SLOW_PATH_MS = 5000;
/** …if it is this much slower, and the base falls back by as much (ms). */
const SLOW_PATH_FALL_MS = 30;

/**
 * @typedef {object} JitterBufferOptions
 * @property {number} sampleRate        output sample rate (Hz)
 * @property {number} [channels]        output channels (default 2)
 * @property {number} [frameMs]         nominal frame duration (default 20)
 * @property {number} [quantile]        jitter quantile the target covers (default 0.99)
 * @property {number} [windowMs]        jitter history length (default 10000)
 * @property {number} [marginMs]        safety margin over the quantile (default one 128-sample render quantum + 3 ms)
 * @property {number} [initialTargetMs] target before any jitter is known (default frameMs + 40)
 * @property {number} [minTargetMs]     lower bound of the target (default frameMs)
 * @property {number} [maxTargetMs]     upper bound of the target (default 1000)
 * @property {number} [shrinkTauMs]     time constant of the target's decrease (default 6000)
 * @property {number} [maxRateAdjust]   largest playback speed change, fraction (default 0.02)
 * @property {number} [accelerateShare] largest share of a frame cut to drain excess delay, pitch kept (default 0.5; 0 = off)
 * @property {number} [jumpExcessMs]    excess delay dropped at once instead of drained (default 600)
 * @property {number} [fadeMs]          concealment fade-out length (default 30)
 * @property {number} [capacityMs]      storage; beyond it the oldest audio is dropped (default 2000)
 * @property {boolean} [trackOutput]    record when each frame's first sample is output ({@link JitterBuffer.takeOutputs}; default false)
 */

/**
 * A frame whose first sample was just output (with `trackOutput`).
 * @typedef {object} FrameOutput
 * @property {number} seq
 * @property {number} captureMs   the frame's capture time
 * @property {number} offset      index of that sample in the `out` arrays of the `pull` that played it
 */

/**
 * The target and the window's base (smallest transit) once a second, ms.
 * @typedef {object} CalmSample
 * @property {number} t        arrival time
 * @property {number} target   the target then
 * @property {number} base     the base then
 */

/**
 * A fall of the base (see {@link JitterBuffer.pathFaster}), ms.
 * @typedef {object} BaseFall
 * @property {number} since         arrival of its first frame
 * @property {number} from          the base before it
 * @property {number} jitterBefore  the jitter quantile before it
 * @property {boolean} faster       taken for a faster path
 * @property {number} calm          with `faster`: the calm target it goes back to
 */

/**
 * @typedef {object} JitterFrame
 * @property {number} seq           frame number (consecutive)
 * @property {number} captureMs     capture time of the first sample (ms, sender's clock)
 * @property {Float32Array[]} samples  planar samples, one array per channel (all the same length)
 */

/**
 * @typedef {object} JitterBufferStats
 * @property {'idle'|'buffering'|'playing'} state
 * @property {number} levelMs        audio queued now
 * @property {number} targetMs       target buffer delay (frame + jitter quantile + margin)
 * @property {number} delayMs        measured buffer delay (smoothed), comparable to targetMs
 * @property {number} jitterMs       the jitter quantile in the window
 * @property {number} rate           current playback speed (1 = nominal)
 * @property {number} underruns      times the buffer ran dry while playing
 * @property {number} concealedMs    audio synthesised instead of received while playing
 * @property {number} framesPushed   frames accepted
 * @property {number} framesLate     frames dropped because they came after their turn
 * @property {number} framesMissing  frames never received (sequence gaps)
 * @property {number} framesSkipped  frames the sender skipped (jumped over, see {@link JitterBuffer.senderSkipped})
 * @property {number} framesDropped  frames dropped because the buffer was over capacity or far above its target
 * @property {number} droppedMs      audio dropped (over capacity, or far above the target)
 * @property {number} acceleratedMs  audio cut from frames played shortened (pitch kept) to drain excess delay
 * @property {number|null} playingCaptureMs  capture time of the sample being played
 * @property {number} minTargetMs    the target's lower bound (see {@link JitterBuffer.setBounds})
 * @property {number} maxTargetMs    its upper bound
 */

/** Linear-interpolation helper: the `q` quantile of an ascending array. */
export function quantileSorted(/** @type {number[]} */ sorted, /** @type {number} */ q) {
    if (sorted.length === 0) return 0;
    const pos = Math.min(1, Math.max(0, q)) * (sorted.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(sorted.length - 1, lo + 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export class JitterBuffer {
    /** @param {JitterBufferOptions} opts */
    constructor(opts) {
        if (!(opts && opts.sampleRate > 0)) throw new Error('JitterBuffer needs a positive sampleRate');
        this.sampleRate = opts.sampleRate;
        this.channels = opts.channels ?? 2;
        this.frameMs = opts.frameMs ?? 20;
        this.quantile = opts.quantile ?? 0.99;
        this.windowMs = opts.windowMs ?? 10000;
        this.marginMs = opts.marginMs ?? (128 / this.sampleRate) * 1000 + 3;
        this.initialTargetMs = opts.initialTargetMs ?? this.frameMs + 40;
        this.minTargetMs = opts.minTargetMs ?? this.frameMs;
        this.maxTargetMs = opts.maxTargetMs ?? 1000;
        this.shrinkTauMs = opts.shrinkTauMs ?? 6000;
        this.maxRateAdjust = opts.maxRateAdjust ?? 0.02;
        this.accelerateShare = opts.accelerateShare ?? 0.5;
        this.jumpExcessMs = opts.jumpExcessMs ?? 600;
        this.fadeMs = opts.fadeMs ?? 30;
        this.trackOutput = opts.trackOutput ?? false;
        /** @type {FrameOutput[]} */
        this.outputs = [];
        const capacityMs = Math.max(opts.capacityMs ?? 2000, this.maxTargetMs + 4 * this.frameMs);
        this.capacity = Math.ceil((capacityMs / 1000) * this.sampleRate);
        /** @type {Float32Array[]} */
        this.store = [];
        for (let c = 0; c < this.channels; c++) this.store.push(new Float32Array(this.capacity));
        // the sender said it skipped frames: the next gap is a jump (see senderSkipped)
        this.expectJump = false;
        // concealment source: the last 10 ms played, per channel
        this.concealLen = Math.max(1, Math.round(this.sampleRate * 0.01));
        /** @type {Float32Array[]} */
        this.history = [];
        for (let c = 0; c < this.channels; c++) this.history.push(new Float32Array(this.concealLen));
        this.historyPos = 0;

        this.underruns = 0;
        this.concealedSamples = 0;
        this.framesPushed = 0;
        this.framesLate = 0;
        this.framesMissing = 0;
        this.framesSkipped = 0;
        this.framesDropped = 0;
        this.acceleratedSamples = 0;
        this.droppedSamples = 0;
        this.reset();
    }

    /** Forgets the audio and the timing history (new stream, new connection). Counters stay. */
    reset() {
        this.wpos = 0; // absolute index of the next sample written
        this.rpos = 0; // absolute (fractional) read position
        /** @type {'idle'|'buffering'|'playing'} */
        this.state = 'buffering';
        this.idleRequested = false;
        /** @type {{t: number, transit: number}[]} */
        this.jitterQ = 0;
        this.forgetTiming();
        this.expectJump = false;
        this.measuredDelay = /** @type {number|null} */ (null);
        this.rate = 1;
        this.nextSeq = /** @type {number|null} */ (null);
        /** @type {{pos: number, captureMs: number, seq: number}[]} start of each frame in the store */
        this.segments = [];
        this.lastOutputPos = -1; // with trackOutput: the last frame start reported
        this.concealPhase = 0; // samples of concealment produced in the current gap
        this.concealing = false; // between an underrun and the return of audio
        this.fadeIn = 0; // samples of fade-in left
    }

    /**
     * Starts the timing history over, and the target from where a new buffer starts (within
     * the bounds): after a reset, and after a jump, whose earlier transits would inflate it.
     */
    forgetTiming() {
        /** @type {{t: number, transit: number}[]} */
        this.arrivals = [];
        this.targetDelay = Math.min(this.maxTargetMs, Math.max(this.minTargetMs, this.initialTargetMs)); // ms, as a buffer level (D + F)
        this.historySince = /** @type {number|null} */ (null); // first arrival of the jitter history
        this.lastTargetUpdate = /** @type {number|null} */ (null);
        this.forgetPaths();
    }

    /** Forgets the paths seen: the calm samples, the base and its fall (see {@link pathFaster}). */
    forgetPaths() {
        /** @type {CalmSample[]} */
        this.calmSamples = [];
        /** @type {BaseFall|null} */
        this.fall = null;
        this.base = /** @type {number|null} */ (null); // the window's smallest transit at the last arrival
    }

    /**
     * New bounds of the target (ms): the server asked for a deeper or shallower floor (the
     * `jitter` advice of its `info` and `rung` messages, combined with the round trip and
     * the audio per message by the Player). As `JitterBuffer::set_bounds` of ondes-core, the
     * buffer keeps its audio and its timing history: a raised floor raises the target at
     * once and the buffer stretches to it — here by playing slower (at most `maxRateAdjust`,
     * inaudibly, rather than inserting concealment), or at once at the next underrun, which
     * buffers up to the target; a lowered floor lets the target decay as usual
     * (`shrinkTauMs`); a lowered ceiling clamps it at once. The storage grows if the new
     * ceiling needs it. Bounds must satisfy 0 ≤ min ≤ max ≤ 60 s (the Rust buffer's check).
     * @param {number} minMs
     * @param {number} maxMs
     */
    setBounds(minMs, maxMs) {
        if (!(Number.isFinite(minMs) && Number.isFinite(maxMs) && minMs >= 0 && minMs <= maxMs && maxMs <= 60000)) {
            throw new RangeError(`jitter bounds [${minMs}, ${maxMs}] ms: min must not exceed max, max at most 60 s`);
        }
        this.minTargetMs = minMs;
        this.maxTargetMs = maxMs;
        this.growCapacity(maxMs + 4 * this.frameMs);
        this.targetDelay = Math.min(maxMs, Math.max(minMs, this.targetDelay));
        this.updateRate();
    }

    /**
     * Makes the storage hold at least `capacityMs`, keeping the audio queued (a larger
     * ceiling from {@link setBounds}: the buffer may then hold more than before).
     * @param {number} capacityMs
     */
    growCapacity(capacityMs) {
        const cap = Math.ceil((capacityMs / 1000) * this.sampleRate);
        if (cap <= this.capacity) return;
        const old = this.capacity;
        // everything still readable: from the sample before the read position (interpolation)
        const from = Math.max(0, this.wpos - old, Math.floor(this.rpos) - 1);
        this.store = this.store.map((src) => {
            const dst = new Float32Array(cap);
            for (let p = from; p < this.wpos; p++) dst[p % cap] = src[p % old];
            return dst;
        });
        this.capacity = cap;
    }

    /**
     * The sender says it skipped frames (the server's `lagged` notice, which comes before
     * the frames after the skip; or `resumed` with frames skipped while paused). As
     * `JitterBuffer::sender_skipped` of ondes-core: the next gap in sequence numbers is then
     * a jump, however short — counted in `framesSkipped`, not `framesMissing`, and the timing
     * history and the target start over after it, rather than keeping the delay that made
     * the sender skip. The notice is used up by the next frame past the newest, gap or not.
     */
    senderSkipped() {
        this.expectJump = true;
    }

    /** The stream stopped on purpose (paused): let the buffer drain without counting it. */
    markIdle() {
        this.idleRequested = true;
    }

    /** Forget the expected sequence number: the next jump is not a loss (resumed after a pause). */
    resync() {
        this.nextSeq = null;
    }

    get levelSamples() {
        return this.wpos - this.rpos;
    }

    /** Target buffer delay (ms). */
    get targetMs() {
        return this.targetDelay;
    }

    get levelMs() {
        return (this.levelSamples / this.sampleRate) * 1000;
    }

    /**
     * A frame arrived at `nowMs` (playout clock).
     * @param {JitterFrame} frame
     * @param {number} nowMs
     * @returns {'ok'|'late'|'restart'}
     */
    push(frame, nowMs) {
        let outcome = /** @type {'ok'|'late'|'restart'} */ ('ok');
        if (this.nextSeq !== null) {
            if (frame.seq < this.nextSeq) {
                // far behind: the sender restarted its numbering; otherwise a late duplicate
                if (this.nextSeq - frame.seq > Math.max(50, 2000 / this.frameMs)) {
                    outcome = 'restart';
                    this.arrivals = [];
                    this.historySince = null;
                    this.forgetPaths(); // perhaps another clock: its transits compare with none before
                    this.expectJump = false;
                } else {
                    this.framesLate++;
                    return 'late';
                }
            } else {
                // the first frame past the newest uses up the sender's notice, gap or not
                const announced = this.expectJump;
                this.expectJump = false;
                const gap = frame.seq - this.nextSeq;
                if (gap > 0 && (announced || gap * this.frameMs > this.maxTargetMs)) {
                    // the sender skipped ahead (a lagging listener moved to live): jump, and
                    // start the timing over — the transits before describe another regime
                    this.framesSkipped += gap;
                    this.forgetTiming();
                } else if (gap > 0) {
                    this.framesMissing += gap;
                }
            }
        }
        this.nextSeq = frame.seq + 1;
        this.framesPushed++;
        this.idleRequested = false;
        if (this.state === 'idle') this.state = 'buffering';

        const levelBefore = this.levelMs;
        this.observeArrival(frame.captureMs, nowMs);
        const jitter = this.lastJitter;
        if (this.state === 'playing') {
            const d = levelBefore + jitter + this.frameMs;
            this.measuredDelay = this.measuredDelay === null ? d : this.measuredDelay + 0.1 * (d - this.measuredDelay);
        }
        this.write(this.drain(frame));
        this.updateRate();
        return outcome;
    }

    /** Jitter statistics and the target, from one arrival. */
    observeArrival(/** @type {number} */ captureMs, /** @type {number} */ nowMs) {
        const transit = nowMs - captureMs;
        this.arrivals.push({ t: nowMs, transit });
        const horizon = nowMs - this.windowMs;
        let drop = 0;
        while (drop < this.arrivals.length - 1 && this.arrivals[drop].t < horizon) drop++;
        if (drop) this.arrivals.splice(0, drop);
        let base = Infinity;
        for (const a of this.arrivals) base = Math.min(base, a.transit);
        // a faster path (see pathFaster): the calm target to go back to at once
        const calm = this.base !== null && base < this.base ? this.pathFaster(this.base, base, nowMs) : null;
        const jitters = this.arrivals.map((a) => a.transit - base).sort((a, b) => a - b);
        this.lastJitter = transit - base;
        this.jitterQ = quantileSorted(jitters, this.quantile);

        const raw = Math.min(this.maxTargetMs, Math.max(this.minTargetMs, this.frameMs + this.jitterQ + this.marginMs));
        if (calm !== null) {
            // the slower path's frames are gone: what is left, no lower than the calm target
            this.targetDelay = Math.min(this.maxTargetMs, Math.max(this.minTargetMs, raw, calm));
        } else if (raw >= this.targetDelay) {
            this.targetDelay = raw; // grows at once
        } else if (this.lastTargetUpdate !== null) {
            // shrinks slowly: exponential approach with time constant shrinkTauMs, and not
            // below the initial target until the history spans a whole window
            if (this.historySince === null) this.historySince = nowMs;
            const known = nowMs - this.historySince >= this.windowMs;
            const floor = known ? raw : Math.max(raw, Math.min(this.targetDelay, this.initialTargetMs));
            const dt = Math.max(0, nowMs - this.lastTargetUpdate);
            this.targetDelay = floor + (this.targetDelay - floor) * Math.exp(-dt / this.shrinkTauMs);
        }
        if (this.historySince === null) this.historySince = nowMs;
        this.lastTargetUpdate = nowMs;
        this.base = base;
        const last = this.calmSamples[this.calmSamples.length - 1];
        if (last === undefined || nowMs >= last.t + CALM_EVERY_MS) {
            this.calmSamples.push({ t: nowMs, target: this.targetDelay, base });
            let old = 0;
            while (this.calmSamples[old].t < nowMs - CALM_MEMORY_MS) old++;
            if (old) this.calmSamples.splice(0, old);
        }
    }

    /**
     * The window's base fell from `from` to `base` at `nowMs`: a queue drained, the link
     * recovered — or only a lucky frame. Falls within `FALL_WINDOW_MS` of the first are one
     * fall. It is a faster path if the base is back near the fastest of the calm samples
     * (within half of `PATH_FALL_MS`), from a slower path: by a fall of `PATH_FALL_MS` from
     * at least as far above the fastest, and by half the jitter before it (not an early frame
     * on a jittery path), or by `SLOW_PATH_FALL_MS` after a path that slow for `SLOW_PATH_MS`
     * (whose own retransmissions may make its jitter larger than the fall). Then the slower
     * path's frames leave the window, now and at the fall's further steps. Decided once per fall.
     * @param {number} from
     * @param {number} base
     * @param {number} nowMs
     * @returns {number|null} the calm target to go back to at once, if the fall was just found
     *     to be a faster path
     */
    pathFaster(from, base, nowMs) {
        let fall = this.fall;
        if (fall === null || nowMs - fall.since > FALL_WINDOW_MS) {
            fall = { since: nowMs, from, jitterBefore: this.jitterQ, faster: false, calm: 0 };
            this.fall = fall;
        }
        if (fall.faster) {
            this.forgetSlowerPath(base, fall.calm);
            return null;
        }
        const samples = this.calmSamples;
        const fastest = samples.length ? Math.min(...samples.map((c) => c.base)) : base;
        const fell = fall.from - base;
        const backToFastest = base <= fastest + PATH_FALL_MS / 2;
        const sudden = fall.from >= fastest + PATH_FALL_MS && fell >= Math.max(PATH_FALL_MS, fall.jitterBefore / 2);
        const afterSlow = fell >= SLOW_PATH_FALL_MS && this.slowerFor(fastest + SLOW_PATH_FALL_MS, nowMs) >= SLOW_PATH_MS;
        if (!(backToFastest && (sudden || afterSlow))) return null;
        fall.faster = true;
        // the buffer's calm level before the episode (never missing: the first arrival keeps one)
        fall.calm = samples.length ? Math.min(...samples.map((c) => c.target)) : Math.min(this.targetDelay, this.initialTargetMs);
        this.forgetSlowerPath(base, fall.calm);
        return fall.calm;
    }

    /**
     * How long the base has stayed at or above `slow` up to `nowMs`, by the calm samples (ms).
     * @param {number} slow
     * @param {number} nowMs
     */
    slowerFor(slow, nowMs) {
        let since = /** @type {number|null} */ (null);
        for (let i = this.calmSamples.length - 1; i >= 0 && this.calmSamples[i].base >= slow; i--) since = this.calmSamples[i].t;
        return since === null ? 0 : nowMs - since;
    }

    /**
     * Drops from the window the frames later than the calm target above the new base: the
     * slower path's own, and its queue's that came in the burst. Kept, they would hold the
     * target at the queue's delay for a window.
     * @param {number} base
     * @param {number} calm
     */
    forgetSlowerPath(base, calm) {
        const latest = base + Math.max(calm, this.frameMs);
        this.arrivals = this.arrivals.filter((a) => a.transit <= latest);
    }

    /** Speed control: steer the measured delay to the target. */
    updateRate() {
        if (this.state !== 'playing' || this.measuredDelay === null) {
            this.rate = 1;
            return;
        }
        const err = this.measuredDelay - this.targetDelay; // ms; > 0: too much buffered
        const deadband = Math.max(1, 0.05 * this.targetDelay);
        if (Math.abs(err) <= deadband) {
            this.rate = 1;
            return;
        }
        const adj = Math.max(-this.maxRateAdjust, Math.min(this.maxRateAdjust, (err - Math.sign(err) * deadband) * 0.001));
        this.rate = 1 + adj;
    }

    /**
     * Brings a delay well above the target down: the frame comes back shortened (pitch
     * kept) by up to `accelerateShare` of it, or — more than `jumpExcessMs` above the target —
     * the oldest audio is dropped at once down to the target. The excess is judged from the
     * smaller of the smoothed delay and the level now, so that a drain in progress does not
     * overshoot while the smoothed figure catches up.
     * @param {JitterFrame} frame
     * @returns {JitterFrame}
     */
    drain(frame) {
        if (this.state !== 'playing' || this.measuredDelay === null || this.concealing) return frame;
        const delay = Math.min(this.measuredDelay, this.levelMs + this.frameMs);
        const excess = delay - this.targetDelay;
        const band = Math.max(this.frameMs / 2, this.targetDelay / 10);
        if (excess > this.jumpExcessMs) {
            const dropSamples = Math.floor(((excess - band / 2) / 1000) * this.sampleRate);
            const drop = Math.max(0, Math.min(dropSamples, Math.floor(this.levelSamples)));
            this.rpos += drop;
            this.droppedSamples += drop;
            this.framesDropped += Math.round(drop / ((this.frameMs / 1000) * this.sampleRate));
            this.measuredDelay -= (drop / this.sampleRate) * 1000;
            return frame;
        }
        if (this.accelerateShare <= 0 || excess <= band) return frame;
        const n = frame.samples[0]?.length ?? 0;
        const maxRemove = Math.min(((excess - band / 2) / 1000) * this.sampleRate, n * this.accelerateShare);
        const cut = compress(frame.samples, this.sampleRate, maxRemove);
        if (cut.removed === 0) return frame;
        this.acceleratedSamples += cut.removed;
        this.measuredDelay -= (cut.removed / this.sampleRate) * 1000;
        return { ...frame, samples: cut.samples };
    }

    /** Appends a frame's samples (planar), dropping the oldest audio if over capacity. */
    write(/** @type {JitterFrame} */ frame) {
        const n = frame.samples[0]?.length ?? 0;
        if (n === 0) return;
        if (this.levelSamples + n > this.capacity) {
            // far too much queued (e.g. a stalled output): drop the oldest, back to the target
            const keep = Math.max(0, Math.round((this.targetDelay / 1000) * this.sampleRate) - n);
            const dropSamples = Math.max(0, Math.floor(this.levelSamples) - keep);
            this.rpos += dropSamples;
            this.droppedSamples += dropSamples;
            this.framesDropped += Math.round(dropSamples / ((this.frameMs / 1000) * this.sampleRate));
        }
        this.segments.push({ pos: this.wpos, captureMs: frame.captureMs, seq: frame.seq });
        if (this.segments.length > 4 * (this.capacity / n + 1)) this.segments.splice(0, this.segments.length >> 1);
        for (let c = 0; c < this.channels; c++) {
            const src = frame.samples[Math.min(c, frame.samples.length - 1)];
            const dst = this.store[c];
            let w = this.wpos % this.capacity;
            for (let i = 0; i < n; i++) {
                dst[w] = src[i];
                if (++w === this.capacity) w = 0;
            }
        }
        this.wpos += n;
    }

    /**
     * Fills `out` (one Float32Array per channel, all the same length) with the next samples.
     * @param {Float32Array[]} out
     */
    pull(out) {
        const n = out[0]?.length ?? 0;
        if (n === 0) return;
        if (this.state !== 'playing') {
            const targetSamples = (this.targetDelay / 1000) * this.sampleRate;
            if (this.state === 'buffering' && this.levelSamples >= targetSamples && this.levelSamples >= n + 1) {
                this.state = 'playing';
                this.measuredDelay = null;
                this.fadeIn = this.concealPhase > 0 ? Math.round(this.sampleRate * 0.005) : 0;
                this.concealing = false;
            } else {
                this.conceal(out, 0);
                return;
            }
        }
        const rate = this.rate;
        const need = Math.ceil(n * rate) + 1;
        if (this.levelSamples < need) {
            // ran dry: play what is left, then conceal (not an underrun if the source paused)
            const avail = Math.max(0, Math.floor(this.levelSamples));
            this.readInto(out, 0, avail, 1);
            this.concealPhase = 0;
            if (this.idleRequested) {
                this.state = 'idle';
            } else {
                this.underruns++;
                this.state = 'buffering';
                this.concealing = true;
                // the jitter quantile missed this one: grow at once by a frame (it shrinks back slowly)
                this.targetDelay = Math.min(this.maxTargetMs, this.targetDelay + this.frameMs);
            }
            this.conceal(out, avail);
            this.rpos = this.wpos;
            return;
        }
        this.readInto(out, 0, n, rate);
        this.concealPhase = 0;
    }

    /** Reads `count` output samples into out[*][from…] at speed `rate`. */
    readInto(/** @type {Float32Array[]} */ out, /** @type {number} */ from, /** @type {number} */ count, /** @type {number} */ rate) {
        const cap = this.capacity;
        const fadeLen = Math.round(this.sampleRate * 0.005);
        for (let c = 0; c < out.length; c++) {
            const src = this.store[Math.min(c, this.channels - 1)];
            const dst = out[c];
            let p = this.rpos;
            let fade = this.fadeIn;
            for (let i = from; i < from + count; i++) {
                const i0 = Math.floor(p);
                const f = p - i0;
                const a = src[i0 % cap];
                let v = f === 0 ? a : a + (src[(i0 + 1) % cap] - a) * f;
                if (fade > 0) {
                    v *= 1 - fade / fadeLen;
                    fade--;
                }
                dst[i] = v;
                p += rate;
            }
        }
        // remember what was played, for concealment
        const h = this.history;
        for (let i = from; i < from + count; i++) {
            for (let c = 0; c < this.channels; c++) h[c][this.historyPos] = out[Math.min(c, out.length - 1)][i];
            if (++this.historyPos === this.concealLen) this.historyPos = 0;
        }
        this.fadeIn = Math.max(0, this.fadeIn - count);
        const r0 = this.rpos;
        this.rpos += count * rate;
        if (this.trackOutput) {
            // frames whose first sample lies in [r0, rpos): output at `from + (pos − r0) / rate`
            for (const seg of this.segments) {
                if (seg.pos >= this.rpos) break;
                if (seg.pos >= r0 && seg.pos > this.lastOutputPos) {
                    this.outputs.push({ seq: seg.seq, captureMs: seg.captureMs, offset: from + (seg.pos - r0) / rate });
                    this.lastOutputPos = seg.pos;
                }
            }
            if (this.outputs.length > 1000) this.outputs.splice(0, this.outputs.length - 1000);
        }
    }

    /** With `trackOutput`: the frames whose first sample was output since the last call. */
    takeOutputs() {
        const o = this.outputs;
        this.outputs = [];
        return o;
    }

    /** Fills out[*][from…] with concealment: the last 10 ms repeated, fading out, then silence. */
    conceal(/** @type {Float32Array[]} */ out, /** @type {number} */ from) {
        const n = out[0].length;
        const fadeSamples = Math.max(1, Math.round((this.fadeMs / 1000) * this.sampleRate));
        for (let i = from; i < n; i++) {
            const k = this.concealPhase + (i - from);
            const g = k < fadeSamples ? 1 - k / fadeSamples : 0;
            const idx = (this.historyPos + (k % this.concealLen)) % this.concealLen;
            for (let c = 0; c < out.length; c++) out[c][i] = g === 0 ? 0 : this.history[Math.min(c, this.channels - 1)][idx] * g;
        }
        if (this.concealing) this.concealedSamples += n - from;
        this.concealPhase += n - from;
        if (this.concealPhase >= fadeSamples) {
            for (const h of this.history) h.fill(0);
        }
    }

    /** Capture time of the sample at the read position, or null. */
    get playingCaptureMs() {
        const segs = this.segments;
        let i = 0;
        while (i + 1 < segs.length && segs[i + 1].pos <= this.rpos) i++;
        if (i > 0) segs.splice(0, i);
        if (segs.length === 0 || this.state !== 'playing') return null;
        return segs[0].captureMs + ((this.rpos - segs[0].pos) / this.sampleRate) * 1000;
    }

    /** @returns {JitterBufferStats} */
    stats() {
        return {
            state: this.state,
            levelMs: this.levelMs,
            targetMs: this.targetDelay,
            delayMs: this.measuredDelay ?? 0,
            jitterMs: this.jitterQ,
            rate: this.rate,
            underruns: this.underruns,
            concealedMs: (this.concealedSamples / this.sampleRate) * 1000,
            framesPushed: this.framesPushed,
            framesLate: this.framesLate,
            framesMissing: this.framesMissing,
            framesSkipped: this.framesSkipped,
            framesDropped: this.framesDropped,
            acceleratedMs: (this.acceleratedSamples / this.sampleRate) * 1000,
            droppedMs: (this.droppedSamples / this.sampleRate) * 1000,
            playingCaptureMs: this.playingCaptureMs,
            minTargetMs: this.minTargetMs,
            maxTargetMs: this.maxTargetMs,
        };
    }
}
