// @ts-check
/**
 * Round-trip time and clock offset from the protocol's `ping`/`pong` exchange (the
 * WebSocket source pings about once a second).
 *
 * The RTT feeds the jitter advice (a TCP retransmission costs about one round trip) and
 * the listener's reports. The clock offset (server clock − this clock) is estimated NTP
 * style from the exchanges with the lowest round trip, where the unknown asymmetry of the
 * path is smallest; it is shown, not applied to latencies (server and listener usually
 * share a synchronised clock, and a wrong offset would hide real latency).
 */

import { nowMs } from './client.js';
import { pingMessage } from './protocol.js';

/** Pings kept waiting for their pong; older ones are forgotten (their pong is too late to mean anything). */
const KEEP_PINGS = 10;

export class RoundTripMeter {
    constructor() {
        this.lastId = 0;
        /** @type {Map<number, number>} ping id → sent at (ms) */
        this.pending = new Map();
        this.rttMs = /** @type {number|null} */ (null);
        this.minRttMs = /** @type {number|null} */ (null);
        this.clockOffsetMs = /** @type {number|null} */ (null);
    }

    /**
     * Makes the next `ping` and gives it to `send`; it is timed only when `send` says it
     * went out.
     * @param {(msg: import('./protocol.js').PingMessage) => boolean} send
     */
    ping(send) {
        const id = ++this.lastId;
        const t = nowMs();
        if (send(pingMessage(id, t))) this.pending.set(id, t);
        for (const k of this.pending.keys()) if (k < id - KEEP_PINGS) this.pending.delete(k);
    }

    /**
     * A `pong`: the round trip it closes, or null for one we are not waiting for.
     * @param {import('./protocol.js').PongMessage} m
     * @returns {number|null}
     */
    pong(m) {
        const sent = this.pending.get(m.id);
        if (sent === undefined) return null;
        this.pending.delete(m.id);
        const rtt = nowMs() - sent;
        this.rttMs = rtt;
        if (typeof m.server_ts_us === 'number' && (this.minRttMs === null || rtt <= this.minRttMs * 1.5 + 0.5)) {
            // server clock − client clock, from the best (lowest-RTT) exchanges
            const offset = m.server_ts_us / 1000 - (sent + rtt / 2);
            this.clockOffsetMs = this.clockOffsetMs === null || rtt <= (this.minRttMs ?? rtt) ? offset : this.clockOffsetMs + 0.2 * (offset - this.clockOffsetMs);
        }
        this.minRttMs = this.minRttMs === null ? rtt : Math.min(this.minRttMs, rtt);
        return rtt;
    }
}
