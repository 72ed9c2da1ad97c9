// @ts-check
/**
 * The RMS and peak meters of channels A and B (`#meter-a`, `#meter-b`): bars over the last
 * 50 ms at every new block, the values as text (and as the meters' ARIA values) at most four
 * times a second so they can be read. The peak marker holds for 1.5 s, then falls at
 * 20 dB/s, as on a mixing desk: a short peak stays visible long enough to be seen.
 */

import { $ } from './dom.js';
import { fmt } from './format.js';
import { levels, toDb } from './dsp.js';

/** @typedef {import('./sample-ring.js').SampleRing} SampleRing */

/** Peak hold time, ms. */
const HOLD_MS = 1500;
/** Fall of the peak marker after the hold, dB per second. */
const FALL_DB_PER_S = 20;

export class LevelMeters {
    constructor() {
        /** @type {Record<'a'|'b', {db: number, at: number, fell?: number}>} */
        this.peakHold = { a: { db: -120, at: 0 }, b: { db: -120, at: 0 } };
    }

    /**
     * @param {number} now        ms (the animation frame's time)
     * @param {boolean} withText  update the text and ARIA values too
     * @param {{ringA: SampleRing, ringB: SampleRing, rate: number}} signal  `rate` 0 while no audio has arrived
     */
    update(now, withText, { ringA, ringB, rate }) {
        const win = Math.max(1, Math.round((rate || 48000) * 0.05)); // 50 ms
        for (const [ch, ring] of /** @type {const} */ ([
            ['a', ringA],
            ['b', ringB],
        ])) {
            const { rms, peak } = rate ? levels(ring.latest(win)) : { rms: 0, peak: 0 };
            const rmsDb = toDb(rms);
            const peakDb = toDb(peak);
            const hold = this.peakHold[ch];
            if (peakDb >= hold.db) {
                hold.db = peakDb;
                hold.at = now;
            } else if (now - hold.at > HOLD_MS) {
                hold.db = Math.max(peakDb, hold.db - (FALL_DB_PER_S * Math.max(0, now - (hold.fell ?? now))) / 1000);
            }
            hold.fell = now;
            const pct = (/** @type {number} */ db) => `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100)).toFixed(1)}%`;
            const meter = $(`meter-${ch}`);
            /** @type {HTMLElement} */ (meter.querySelector('.meter-rms')).style.setProperty('--v', pct(rmsDb));
            /** @type {HTMLElement} */ (meter.querySelector('.meter-peak')).style.left = `calc(${pct(hold.db)} - 3px)`;
            if (withText) {
                meter.setAttribute('aria-valuenow', String(Math.max(-60, Math.round(rmsDb))));
                const text = `RMS ${fmt.db(rmsDb)} dBFS · peak ${fmt.db(peakDb)} dBFS${peakDb >= -0.1 ? ' · CLIP' : ''}`;
                meter.setAttribute('aria-valuetext', text);
                $(`meter-${ch}-text`).textContent = text;
            }
        }
    }
}
