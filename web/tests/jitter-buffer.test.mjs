// Unit tests of the adaptive jitter buffer (web/static/jitter-buffer.js), in simulated time:
// a sender producing 20 ms frames, a network adding delay, and an audio device pulling
// 128-sample render quanta at 48 kHz, all driven by one event loop without sleeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterBuffer, quantileSorted } from '../static/jitter-buffer.js';

const RATE = 48000;
const FRAME_MS = 20;
const FRAME = (RATE * FRAME_MS) / 1000; // 960 samples
const QUANTUM = 128;
const QUANTUM_MS = (QUANTUM / RATE) * 1000;

/** Deterministic PRNG (mulberry32). */
function rng(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/** Frame `seq` of a 440 Hz sine, stereo (right = −left). */
function frame(seq, captureMs) {
    const l = new Float32Array(FRAME);
    const r = new Float32Array(FRAME);
    for (let i = 0; i < FRAME; i++) {
        const v = 0.5 * Math.sin((2 * Math.PI * 440 * (seq * FRAME + i)) / RATE);
        l[i] = v;
        r[i] = -v;
    }
    return { seq, captureMs, samples: [l, r] };
}

/**
 * Runs a simulation for `durationMs`. `delayOf(seq, captureMs)` is the network delay of a
 * frame (ms, ≥ 0; null = never sent). Delivery is in order (like TCP: a frame cannot
 * overtake the one before it). `onQuantum(t, jb, out)` is called after every pull.
 */
function simulate(jb, durationMs, delayOf, onQuantum = () => {}, { startSeq = 0, t0 = 0 } = {}) {
    const arrivals = [];
    let last = -Infinity;
    for (let seq = startSeq; ; seq++) {
        const captureMs = t0 + (seq - startSeq) * FRAME_MS;
        if (captureMs > t0 + durationMs) break;
        const d = delayOf(seq, captureMs);
        if (d === null) continue;
        // the frame exists once its last sample is captured, then travels
        const at = Math.max(last, captureMs + FRAME_MS + 2 + d);
        last = at;
        arrivals.push({ at, seq, captureMs });
    }
    const out = [new Float32Array(QUANTUM), new Float32Array(QUANTUM)];
    let k = 0;
    const quanta = Math.floor(durationMs / QUANTUM_MS);
    const startQ = Math.ceil(t0 / QUANTUM_MS);
    for (let q = startQ; q < startQ + quanta; q++) {
        const t = q * QUANTUM_MS;
        while (k < arrivals.length && arrivals[k].at <= t) {
            const a = arrivals[k++];
            jb.push(frame(a.seq, a.captureMs), a.at);
        }
        jb.pull(out);
        onQuantum(t, jb, out);
    }
    return { endMs: t0 + durationMs, nextSeq: startSeq + Math.floor(durationMs / FRAME_MS) + 1 };
}

const make = (opts = {}) => new JitterBuffer({ sampleRate: RATE, channels: 2, frameMs: FRAME_MS, ...opts });

test('quantileSorted interpolates', () => {
    assert.equal(quantileSorted([], 0.5), 0);
    assert.equal(quantileSorted([1, 2, 3, 4, 5], 0.5), 3);
    assert.equal(quantileSorted([0, 10], 0.99), 9.9);
    assert.equal(quantileSorted([0, 10], 1), 10);
});

test('steady arrivals: target settles near one frame, audio passes through unchanged', () => {
    const jb = make();
    assert.equal(jb.stats().targetMs, FRAME_MS + 40, 'starts from the conservative initial target');
    let startedAt = null;
    let underrunsAtStart = 0;
    let maxErr = 0;
    simulate(jb, 30_000, () => 0, (t, b, out) => {
        if (startedAt === null && b.state === 'playing') {
            startedAt = t;
            underrunsAtStart = b.underruns;
        }
        if (t > 1000) {
            for (let i = 1; i < QUANTUM; i++) maxErr = Math.max(maxErr, Math.abs(out[0][i] - out[0][i - 1]));
        }
    });
    const s = jb.stats();
    assert.ok(startedAt !== null && startedAt < 200, `playing within 200 ms (at ${startedAt})`);
    assert.equal(s.underruns, 0);
    assert.equal(underrunsAtStart, 0);
    assert.equal(s.concealedMs, 0);
    assert.ok(s.targetMs >= FRAME_MS && s.targetMs <= FRAME_MS + 8, `target ${s.targetMs.toFixed(2)} ms is about one frame`);
    assert.ok(Math.abs(s.delayMs - s.targetMs) < 4, `delay ${s.delayMs.toFixed(2)} follows target ${s.targetMs.toFixed(2)}`);
    assert.ok(s.jitterMs < 1, `jitter ${s.jitterMs}`);
    // a 440 Hz sine at 0.5 changes by at most 0.029 per sample; a glitch would jump more
    assert.ok(maxErr < 0.04, `no discontinuity in the output (max step ${maxErr.toFixed(4)})`);
    assert.equal(s.framesMissing, 0);
    assert.equal(s.framesLate, 0);
});

test('jitter burst: target grows fast, no underruns once adapted, then shrinks back slowly', () => {
    const jb = make();
    const rand = rng(42);
    const burst = [20_000, 30_000]; // after 20 s of steady arrivals
    const trace = [];
    const underrunsAt = {}; // second → underruns at the end of it
    simulate(jb, 80_000, (seq, c) => (c >= burst[0] && c < burst[1] ? 60 * rand() : 0), (t, b) => {
        if (Math.round(t) % 250 === 0 || trace.length === 0 || t - trace[trace.length - 1].t >= 250) {
            trace.push({ t, target: b.targetMs, delay: b.stats().delayMs, underruns: b.underruns });
        }
        underrunsAt[Math.floor(t / 1000) * 1000] = b.underruns;
    });
    const at = (ms) => trace.reduce((best, p) => (Math.abs(p.t - ms) < Math.abs(best.t - ms) ? p : best));
    // conservative until the history spans the 10 s window, then shrinking (time constant 6 s)
    assert.ok(at(9_900).target >= FRAME_MS + 40 - 1e-9, `the initial target holds for the first window (${at(9_900).target.toFixed(1)})`);
    const before = at(19_900).target;
    assert.ok(before < FRAME_MS + 15, `before the burst the target is small (${before.toFixed(1)})`);
    // grows fast: within 0.5 s of the burst's start the target covers most of the jitter
    const early = at(20_500).target;
    assert.ok(early > before + 30, `target grew quickly: ${before.toFixed(1)} → ${early.toFixed(1)} ms`);
    const peak = Math.max(...trace.filter((p) => p.t < 31_000).map((p) => p.target));
    assert.ok(peak >= FRAME_MS + 55 && peak <= FRAME_MS + 80, `peak target ${peak.toFixed(1)} covers 60 ms of jitter`);
    // no underruns once adapted (2 s into the burst) until long after it
    assert.equal(underrunsAt[22_000], underrunsAt[79_000], 'no underruns after adapting');
    assert.equal(underrunsAt[19_000], 0, 'no underruns before the burst');
    // shrinks slowly: the burst is remembered for the window (10 s), then decays over seconds
    assert.ok(at(32_000).target > 0.9 * peak, `still high 2 s after the burst (${at(32_000).target.toFixed(1)})`);
    const after6 = at(36_000).target;
    assert.ok(after6 > FRAME_MS + 20, `decreasing gradually, not at once (${after6.toFixed(1)} at 36 s)`);
    const late = at(79_000);
    assert.ok(late.target < FRAME_MS + 8, `back near one frame long after (${late.target.toFixed(1)})`);
    assert.ok(Math.abs(late.delay - late.target) < 5, `the delay followed the target down (${late.delay.toFixed(1)})`);
    // monotone decrease after the window has passed (no oscillation)
    const tail = trace.filter((p) => p.t > 36_000);
    for (let i = 1; i < tail.length; i++) assert.ok(tail[i].target <= tail[i - 1].target + 1e-9);
});

test('underrun counting and concealment', () => {
    const jb = make();
    let silentAfterFade = true;
    let concealedNonZero = false;
    const outageStart = 3000; // frames captured from 3 s on are held back
    // frames captured in [3000, 3300) are held back and all delivered at 3300 + ~20 ms
    simulate(jb, 6000, (seq, c) => (c >= 3000 && c < 3300 ? 3320 - c : 0), (t, b, out) => {
        if (b.concealing && t > outageStart && t < 3300) {
            const sinceDry = b.concealPhase / RATE * 1000;
            const peak = Math.max(...out[0].map(Math.abs));
            if (sinceDry < 10 && peak > 0.01) concealedNonZero = true; // repeats the last audio at first
            if (sinceDry > 40 && peak > 0) silentAfterFade = false; // then fades to silence
        }
    });
    const s = jb.stats();
    assert.equal(s.underruns, 1, 'one outage, one underrun');
    assert.ok(concealedNonZero, 'the first ms of concealment repeat the last audio');
    assert.ok(silentAfterFade, 'concealment fades to silence');
    // the outage lasted ~300 ms of late audio minus what was buffered
    assert.ok(s.concealedMs > 200 && s.concealedMs < 420, `concealed ${s.concealedMs.toFixed(1)} ms`);
    assert.equal(s.state, 'playing', 'playing again after the outage');
    assert.equal(s.framesMissing, 0, 'late frames are not missing frames');
});

test('an underrun the quantile did not foresee grows the target by a frame at once', () => {
    const jb = make();
    let before = null;
    let after = null;
    // 20 s steady, then one frame 80 ms late (an isolated stall: too rare to move the 99th percentile much)
    simulate(jb, 25_000, (seq) => (seq === 1000 ? 80 : 0), (t, b) => {
        if (before === null && t >= 19_990) before = b.targetMs;
        if (after === null && b.underruns > 0) after = b.targetMs;
    });
    assert.equal(jb.underruns, 1);
    assert.ok(after >= before + FRAME_MS - 0.5, `target ${before.toFixed(1)} → ${after.toFixed(1)} ms at the underrun`);
    assert.ok(jb.targetMs < after, 'and it shrinks back afterwards');
});

test('a paused source drains without counting an underrun', () => {
    const jb = make();
    const t1 = simulate(jb, 2000, () => 0);
    jb.markIdle();
    // nothing arrives for 2 s
    const out = [new Float32Array(QUANTUM), new Float32Array(QUANTUM)];
    for (let t = t1.endMs; t < t1.endMs + 2000; t += QUANTUM_MS) jb.pull(out);
    assert.equal(jb.state, 'idle');
    assert.equal(jb.underruns, 0);
    assert.equal(jb.stats().concealedMs, 0);
    // the stream resumes at live; the frames skipped while paused are not lost (resync)
    jb.resync();
    simulate(jb, 2000, () => 0, () => {}, { startSeq: jb.stats().framesPushed + 100, t0: t1.endMs + 2000 });
    assert.equal(jb.state, 'playing');
    assert.equal(jb.underruns, 0);
    assert.equal(jb.stats().concealedMs, 0);
    assert.equal(jb.stats().framesMissing, 0);
});

test('sequence handling: late frames dropped, gaps counted, restarts accepted', () => {
    const jb = make();
    assert.equal(jb.push(frame(10, 0), 22), 'ok');
    assert.equal(jb.push(frame(11, 20), 42), 'ok');
    assert.equal(jb.push(frame(11, 20), 43), 'late', 'duplicate');
    assert.equal(jb.push(frame(9, -20), 44), 'late', 'older');
    assert.equal(jb.push(frame(14, 80), 102), 'ok');
    const s = jb.stats();
    assert.equal(s.framesLate, 2);
    assert.equal(s.framesMissing, 2);
    assert.equal(s.framesPushed, 3);
    assert.equal(jb.push(frame(500, 9800), 9822), 'ok');
    assert.equal(jb.push(frame(0, 10000), 10022), 'restart', 'numbering restarted (server restart)');
    assert.equal(jb.push(frame(1, 10020), 10042), 'ok');
    assert.equal(jb.stats().framesLate, 2);
});

test('an output that stalls does not grow the latency without bound', () => {
    const jb = make();
    simulate(jb, 1000, () => 0);
    // the audio device stops pulling for 3 s while frames keep arriving
    for (let seq = 51; seq < 51 + 150; seq++) jb.push(frame(seq, seq * FRAME_MS), seq * FRAME_MS + 22);
    assert.ok(jb.levelMs <= 2000 + FRAME_MS, `level bounded by capacity (${jb.levelMs.toFixed(0)} ms)`);
    assert.ok(jb.stats().framesDropped > 0, 'dropped audio is counted');
});

test('trackOutput: each frame reported once, when its first sample is output, at its offset in the quantum', () => {
    const jb = make({ trackOutput: true });
    /** @type {{seq: number, captureMs: number, outMs: number}[]} */
    const outs = [];
    simulate(jb, 10_000, () => 0, (t, b) => {
        for (const o of b.takeOutputs()) outs.push({ seq: o.seq, captureMs: o.captureMs, outMs: t + (o.offset / RATE) * 1000 });
        assert.equal(b.takeOutputs().length, 0, 'taken once');
    });
    // every frame played exactly once, in order
    const seqs = outs.map((o) => o.seq);
    assert.ok(seqs.length > 480, `${seqs.length} frames reported`);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1);
    // consecutive frame starts are a frame apart at the output (rate ≈ 1 in steady state)
    const late = outs.slice(100);
    for (let i = 1; i < late.length; i++) {
        const d = late[i].outMs - late[i - 1].outMs;
        assert.ok(Math.abs(d - FRAME_MS) < 0.5, `frame ${late[i].seq} starts ${d.toFixed(3)} ms after the previous one`);
    }
    // capture → output is the network delay (2 ms + the frame) plus the buffer's delay
    const lat = late.map((o) => o.outMs - o.captureMs);
    const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
    const s = jb.stats();
    assert.ok(mean > FRAME_MS + 2 && mean < FRAME_MS + 2 + s.targetMs + 3, `capture→output ${mean.toFixed(1)} ms, target ${s.targetMs.toFixed(1)} ms`);
    // without trackOutput nothing is kept
    const plain = make();
    simulate(plain, 1000, () => 0);
    assert.equal(plain.takeOutputs().length, 0);
});

/**
 * Drives `jb` by hand: `arrivals` ({at, seq, captureMs, before?}) sorted by `at`, pulled in
 * render quanta until `endMs`; `before(jb)` runs just before its frame is pushed (where the
 * server's notice would come). Returns the frames output, in order (with `trackOutput`).
 */
function drive(jb, arrivals, endMs, onQuantum = () => {}) {
    const out = [new Float32Array(QUANTUM), new Float32Array(QUANTUM)];
    const played = [];
    let k = 0;
    for (let q = 0; q * QUANTUM_MS < endMs; q++) {
        const t = q * QUANTUM_MS;
        while (k < arrivals.length && arrivals[k].at <= t) {
            const a = arrivals[k++];
            a.before?.(jb);
            jb.push(frame(a.seq, a.captureMs), a.at);
        }
        jb.pull(out);
        if (jb.trackOutput) for (const o of jb.takeOutputs()) played.push(o.seq);
        onQuantum(t, jb, out);
    }
    return played;
}

/**
 * A listener that falls behind and is moved to live: frames 0–99 on time, 100–149 each
 * 10 ms later than the one before (a link at two thirds of real time), 150–189 skipped by
 * the server, then 190 on arriving on time again. `notice` runs before frame 190.
 */
function laggingListener(notice) {
    const arrivals = [];
    for (let seq = 0; seq < 150; seq++) arrivals.push({ seq, captureMs: seq * FRAME_MS, at: seq * FRAME_MS + 22 + Math.max(0, seq - 100) * 10 });
    for (let seq = 190; seq < 400; seq++) arrivals.push({ seq, captureMs: seq * FRAME_MS, at: seq * FRAME_MS + 22 });
    arrivals[150].before = notice;
    return arrivals;
}

test('a skip the sender announced is jumped over: counted skipped, not lost; playout continues after the gap', () => {
    const jb = make({ trackOutput: true });
    let targetBefore = 0;
    const arrivals = laggingListener((b) => {
        targetBefore = b.targetMs;
        b.senderSkipped();
    });
    const played = drive(jb, arrivals, 8000);
    const s = jb.stats();
    assert.equal(s.framesSkipped, 40, 'the gap is skipped');
    assert.equal(s.framesMissing, 0, 'nothing lost');
    assert.equal(s.framesLate, 0);
    // every frame before the gap played once, then the first frame after it
    const i = played.indexOf(149);
    assert.ok(i > 0, 'the frames before the gap played');
    assert.equal(played[i + 1], 190, 'then the first frame after the gap');
    for (let j = 1; j < played.length; j++) if (j !== i + 1) assert.equal(played[j], played[j - 1] + 1);
    // the lag had inflated the target; the jump starts it over instead of keeping it
    assert.ok(targetBefore > FRAME_MS + 100, `lagging target ${targetBefore.toFixed(1)} ms`);
    assert.ok(s.targetMs < FRAME_MS + 45, `target after the jump ${s.targetMs.toFixed(1)} ms`);
    assert.equal(s.state, 'playing');

    // the same without the notice: a gap shorter than the maximum delay is 40 lost frames
    const plain = make();
    drive(plain, laggingListener(() => {}), 8000);
    assert.equal(plain.stats().framesMissing, 40);
    assert.equal(plain.stats().framesSkipped, 0);
});

test('the notice is used up by the next frame; a gap longer than the maximum delay is a jump without one', () => {
    const jb = make({ maxTargetMs: 200 });
    jb.push(frame(0, 0), 22);
    jb.senderSkipped();
    jb.push(frame(1, 20), 42); // no gap: the notice is used up
    jb.push(frame(3, 60), 82);
    assert.equal(jb.stats().framesMissing, 1, 'a later short gap is a loss');
    assert.equal(jb.stats().framesSkipped, 0);
    jb.push(frame(20, 400), 422); // 16 frames = 320 ms > 200 ms
    assert.equal(jb.stats().framesSkipped, 16);
    assert.equal(jb.stats().framesMissing, 1);
    jb.senderSkipped();
    assert.equal(jb.push(frame(21, 420), 442), 'ok');
    assert.equal(jb.push(frame(22, 440), 462), 'ok');
    assert.equal(jb.stats().framesSkipped, 16, 'no gap, no skip');
});

test('setBounds: a raised floor raises the target at once and the delay stretches to it; a lowered one decays', () => {
    const jb = make();
    const trace = [];
    let minRate = 1;
    let raisedAt = null;
    let lowered = false;
    simulate(jb, 60_000, () => 0, (t, b) => {
        if (raisedAt === null && t >= 15_000) {
            raisedAt = { t, target: b.targetMs, delay: b.stats().delayMs, level: b.levelMs };
            b.setBounds(120, 2000);
            assert.equal(b.targetMs, 120, 'the target is the new floor at once');
            assert.ok(b.rate < 1, `playing slower at once (rate ${b.rate})`);
        }
        if (!lowered && t >= 30_000) {
            lowered = true;
            b.setBounds(FRAME_MS, 2000);
            assert.equal(b.targetMs, 120, 'a lowered floor does not drop the target at once');
        }
        if (t > 15_000) minRate = Math.min(minRate, b.rate);
        if (trace.length === 0 || t - trace.at(-1).t >= 250) trace.push({ t, target: b.targetMs, delay: b.stats().delayMs, level: b.levelMs, rate: b.rate });
    });
    const at = (ms) => trace.reduce((best, p) => (Math.abs(p.t - ms) < Math.abs(best.t - ms) ? p : best));
    assert.ok(raisedAt.target < 50, `a small target before (${raisedAt.target.toFixed(1)})`);
    assert.ok(minRate >= 1 - 0.02 - 1e-9 && minRate < 0.99, `stretched by playing slower, at most 2 % (${minRate})`);
    // about 100 ms at ≤ 2 %: some 5 s, then there
    const there = at(29_000);
    assert.ok(Math.abs(there.delay - 120) < 8, `delay ${there.delay.toFixed(1)} reached the floor 120`);
    assert.ok(there.level > 90, `the level grew (${raisedAt.level.toFixed(1)} → ${there.level.toFixed(1)} ms)`);
    assert.ok(at(20_000).delay > raisedAt.delay + 40, 'gradually, not in one step');
    const s = jb.stats();
    assert.equal(s.underruns, 0);
    assert.equal(s.concealedMs, 0, 'stretched without concealment');
    // lowered at 30 s: the target decays (time constant 6 s), and the delay follows
    assert.ok(at(32_000).target > 80, `still high just after (${at(32_000).target.toFixed(1)})`);
    assert.ok(at(59_000).target < FRAME_MS + 10, `decayed (${at(59_000).target.toFixed(1)})`);
    assert.ok(at(59_000).delay < 45, `the delay followed (${at(59_000).delay.toFixed(1)})`);
    assert.deepEqual([s.minTargetMs, s.maxTargetMs], [FRAME_MS, 2000]);
});

test('setBounds: a higher ceiling grows the storage without losing audio; invalid bounds throw', () => {
    // the storage alone: no jump down to the target when the excess passes jumpExcessMs
    const jb = make({ jumpExcessMs: Infinity });
    // an output that stalls while 1.5 s of audio arrive
    for (let seq = 0; seq < 75; seq++) jb.push(frame(seq, seq * FRAME_MS), seq * FRAME_MS + 22);
    const level = jb.levelMs;
    jb.setBounds(100, 5000);
    assert.ok(jb.capacity >= (5000 + 4 * FRAME_MS) * (RATE / 1000), `capacity ${jb.capacity}`);
    assert.equal(jb.levelMs, level);
    const out = [new Float32Array(QUANTUM), new Float32Array(QUANTUM)];
    const ref = frame(0, 0).samples[0];
    jb.pull(out);
    assert.equal(jb.state, 'playing');
    for (let i = 0; i < QUANTUM; i++) assert.equal(out[0][i], ref[i], 'the queued audio is intact');
    // with the larger ceiling, 4 s can queue before the oldest is dropped
    for (let seq = 75; seq < 200; seq++) jb.push(frame(seq, seq * FRAME_MS), seq * FRAME_MS + 22);
    assert.equal(jb.stats().framesDropped, 0);
    assert.throws(() => jb.setBounds(300, 200), RangeError);
    assert.throws(() => jb.setBounds(-1, 200), RangeError);
    assert.throws(() => jb.setBounds(0, 61_000), RangeError);
    assert.equal(jb.minTargetMs, 100, 'unchanged after a refusal');
});

/** The largest sample-to-sample step of channel 0 over the quanta after `fromMs`. */
function stepTracker(fromMs) {
    let max = 0;
    let prev = null;
    return {
        onQuantum(t, _b, out) {
            if (t < fromMs) return;
            for (let i = 0; i < QUANTUM; i++) {
                if (prev !== null) max = Math.max(max, Math.abs(out[0][i] - prev));
                prev = out[0][i];
            }
        },
        get max() {
            return max;
        },
    };
}

test('as the target decays after a stall, the delay follows it by playing frames shorter, pitch kept, without clicks', () => {
    // 10 s steady, then frames captured in [10 s, 10.4 s) held back and delivered together;
    // the target covers that for its 10 s window, then decays (time constant 6 s) — faster
    // than the 2 % of speed change alone can follow
    const delayOf = (_seq, c) => (c >= 10_000 && c < 10_400 ? 10_420 - c : 0);
    const run = (opts) => {
        const jb = make(opts);
        const steps = stepTracker(10_500);
        let worst = 0;
        simulate(jb, 40_000, delayOf, (t, b, out) => {
            steps.onQuantum(t, b, out);
            if (t > 22_000 && t < 32_000) worst = Math.max(worst, b.stats().delayMs - b.targetMs);
        });
        return { jb, steps, worst };
    };
    const fast = run({});
    const slow = run({ accelerateShare: 0, jumpExcessMs: Infinity });
    const s = fast.jb.stats();
    assert.ok(s.acceleratedMs > 100, `cut ${s.acceleratedMs.toFixed(0)} ms from frames`);
    assert.equal(slow.jb.stats().acceleratedMs, 0);
    assert.ok(fast.worst < 40, `the delay stays within ${fast.worst.toFixed(0)} ms of the decaying target`);
    assert.ok(slow.worst > 80, `at 2 % it lags by ${slow.worst.toFixed(0)} ms`);
    // a 440 Hz sine at 0.5 changes by at most 0.029 per sample: the splices leave no step
    assert.ok(fast.steps.max < 0.04, `max step ${fast.steps.max.toFixed(4)}`);
    assert.equal(s.underruns, 1);
});

test('an excess far above the target is dropped at once', () => {
    const jb = make();
    // a stalled output: 1.5 s arrive while nothing is pulled, then playout resumes
    simulate(jb, 2_000, () => 0);
    const t0 = 2_000;
    for (let seq = 101; seq < 176; seq++) jb.push(frame(seq, t0 + (seq - 101) * FRAME_MS), t0 + (seq - 101) * FRAME_MS + 22);
    const s = jb.stats();
    assert.ok(s.framesDropped >= 20, `dropped ${s.framesDropped} frames`);
    // what keeps arriving after the jump queues again, up to the jump's threshold
    assert.ok(jb.levelMs < s.targetMs + 600, `level ${jb.levelMs.toFixed(0)} ms, target ${s.targetMs.toFixed(0)} ms`);
});

/**
 * Arrivals over a path whose delay changes, in order as over TCP: `delayOf(captureMs)` is
 * the network delay of the frame captured then (ms), a frame leaves when its last sample
 * is captured, and the link carries at most one frame every `paceMs` (a queue drains at
 * that pace). `recoverAt`: the frames still queued on the slower path at that time come
 * out then, in a burst at the link's pace, before the frames of the faster path. A frame
 * for which `overtakes(captureMs)` arrives after its own delay, before those held back.
 */
function pathArrivals(durationMs, delayOf, { paceMs = 2, recoverAt = Infinity, overtakes = (_c) => false } = {}) {
    const arrivals = [];
    let last = -Infinity;
    for (let seq = 0; seq * FRAME_MS <= durationMs; seq++) {
        const captureMs = seq * FRAME_MS;
        let natural = captureMs + FRAME_MS + 2 + delayOf(captureMs);
        if (captureMs < recoverAt && natural > recoverAt) natural = recoverAt; // queued: out with the recovery
        if (overtakes(captureMs)) {
            arrivals.push({ seq, captureMs, at: natural });
            continue;
        }
        const at = Math.max(last + paceMs, natural);
        last = at;
        arrivals.push({ seq, captureMs, at });
    }
    return arrivals.sort((a, b) => a.at - b.at);
}

/** Samples target, measured delay, level and underruns every 100 ms of a `drive`. */
function tracer() {
    const trace = [];
    return {
        trace,
        onQuantum(t, b) {
            if (trace.length === 0 || t - trace.at(-1).t >= 100) {
                const s = b.stats();
                trace.push({ t, target: s.targetMs, delay: s.delayMs, level: s.levelMs, underruns: s.underruns });
            }
        },
        at(ms) {
            return trace.reduce((best, p) => (Math.abs(p.t - ms) < Math.abs(best.t - ms) ? p : best));
        },
        within(from, to) {
            return trace.filter((p) => p.t >= from && p.t < to);
        },
    };
}

test('a faster path gives back the slower path\'s delay within seconds', () => {
    // 10 s over a 20 ms path, then 15 s where it is 600 ms slower (a capacity drop: the
    // frames queue), then the fast path again from 25 s: the queue drains in a burst at the
    // link's pace (a frame every 2 ms) before the fast path's frames
    for (const seed of [1, 2, 3, 4, 5]) {
        const rand = rng(seed);
        const delayOf = (c) => (c >= 10_000 && c < 25_000 ? 620 : 20) + 4 * rand();
        const arrivals = pathArrivals(40_000, delayOf, { recoverAt: 25_000 + FRAME_MS + 2 });
        const jb = make();
        const tr = tracer();
        drive(jb, arrivals, 40_000, tr.onQuantum);
        const before = tr.at(9_900);
        const bound = 1.2 * Math.max(before.target, before.delay) + FRAME_MS;
        const slowPeak = Math.max(...tr.within(10_000, 25_000).map((p) => Math.max(p.target, p.delay)));
        assert.ok(slowPeak >= 500, `seed ${seed}: ≥ 500 ms on the slow path (${slowPeak.toFixed(0)})`);
        for (const p of tr.within(28_000, 40_000)) {
            assert.ok(
                p.target <= bound && p.delay <= bound && p.level <= bound,
                `seed ${seed}: at ${(p.t / 1000).toFixed(1)} s target ${p.target.toFixed(0)}, delay ${p.delay.toFixed(0)}, ` +
                    `level ${p.level.toFixed(0)} ms, not back within ${bound.toFixed(0)} ms (before: ${before.target.toFixed(0)})`,
            );
        }
        assert.equal(jb.underruns, tr.at(24_900).underruns, `seed ${seed}: no underrun from the drain`);
    }
});

test('after a lossy slow path only 40 ms slower, the target comes back within seconds', () => {
    // retransmissions on the slower path: 60 ms + up to 150 ms, in order (a frame never
    // arrives before the one before it); the fast path 20 ms + up to 10 ms. The fall back
    // (about 40 ms) is smaller than the slow path's jitter, but the path was slower for seconds
    for (const seed of [1, 2, 3, 4, 5]) {
        const rand = rng(seed);
        const delayOf = (c) => (c >= 10_000 && c < 30_000 ? 60 + 150 * rand() : 20 + 10 * rand());
        const arrivals = pathArrivals(45_000, delayOf);
        const jb = make();
        const tr = tracer();
        drive(jb, arrivals, 45_000, tr.onQuantum);
        const before = tr.at(9_900);
        const bound = 1.2 * Math.max(before.target, before.delay) + FRAME_MS;
        const slow = tr.at(29_900);
        assert.ok(slow.target > bound, `seed ${seed}: the slow path's target ${slow.target.toFixed(0)} ms is above ${bound.toFixed(0)}`);
        for (const p of tr.within(33_000, 45_000)) {
            assert.ok(
                p.target <= bound && p.delay <= bound,
                `seed ${seed}: at ${(p.t / 1000).toFixed(1)} s target ${p.target.toFixed(0)}, delay ${p.delay.toFixed(0)} ms, ` +
                    `not back within ${bound.toFixed(0)} ms (before: ${before.target.toFixed(0)})`,
            );
        }
        assert.equal(jb.underruns, tr.at(29_900).underruns, `seed ${seed}: no underrun from the drain`);
    }
});

test('an early frame on a jittery path does not restart the target', () => {
    // 100 ms + up to 60 ms, in order, and at 20 s one frame in 40 ms: a lucky frame, not a
    // faster path. It overtakes the frames held back before it, which come too late to play
    // (the buffer does not reorder): their gap may cost an underrun at once, the target none.
    for (const seed of [1, 2, 3, 4, 5]) {
        const rand = rng(seed);
        const early = (c) => c === 20_000;
        const delayOf = (c) => (early(c) ? 40 : 100 + 60 * rand());
        const arrivals = pathArrivals(35_000, delayOf, { overtakes: early });
        const jb = make();
        const tr = tracer();
        drive(jb, arrivals, 35_000, tr.onQuantum);
        const before = tr.at(19_900);
        const low = Math.min(...tr.within(20_000, 35_000).map((p) => p.target));
        assert.ok(before.target > FRAME_MS + 50, `seed ${seed}: the target covers the jitter (${before.target.toFixed(0)})`);
        assert.ok(jb.framesLate > 0, `seed ${seed}: the early frame overtook others`);
        assert.ok(low >= 0.8 * before.target, `seed ${seed}: target ${before.target.toFixed(0)} → as low as ${low.toFixed(0)} ms`);
        assert.equal(jb.underruns, tr.at(20_500).underruns, `seed ${seed}: no underrun after the early frame's`);
    }
});
