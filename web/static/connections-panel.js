// @ts-check
/**
 * The "Connections" panel: every listener of the stream from `/stats`, with its health from
 * `/debug/connections` when the token has `debug_access`, and the listener's own last
 * `report` (WebSocket clients send one about once a second: buffer, underruns, loss, RTT).
 * A token without `debug_access` is asked once; after a 401/403 the table is shown without
 * health until another token is entered, instead of a refused request every 2 s.
 */

import { $, esc } from './dom.js';
import { fmt } from './format.js';
import { fetchConnectionHealth } from './dashboard-api.js';

/** A listener's own report, in a few words. */
export function clientReport(/** @type {any} */ r) {
    if (!r || typeof r !== 'object') return '<span class="muted">–</span>';
    const parts = [];
    if (typeof r.buffer_ms === 'number') parts.push(`buffer ${fmt.ms(r.buffer_ms)}`);
    if (typeof r.buffer_ms === 'number' && typeof r.target_ms === 'number' && r.buffer_ms > r.target_ms + 20) {
        parts.push(`${fmt.ms(r.buffer_ms - r.target_ms)} over target`);
    }
    if (typeof r.underruns === 'number') parts.push(`${fmt.int(r.underruns)} underruns`);
    if (typeof r.concealed_ms === 'number' && r.concealed_ms > 0) parts.push(`${fmt.ms(r.concealed_ms)} concealed`);
    if (typeof r.accelerated_ms === 'number' && r.accelerated_ms > 0) parts.push(`${fmt.ms(r.accelerated_ms)} played faster`);
    if (typeof r.dropped_ms === 'number' && r.dropped_ms > 0) parts.push(`${fmt.ms(r.dropped_ms)} dropped`);
    if (typeof r.lost_frames === 'number' && r.lost_frames > 0) parts.push(`${fmt.int(r.lost_frames)} lost`);
    if (typeof r.rtt_ms === 'number') parts.push(`RTT ${fmt.ms(r.rtt_ms)}`);
    return esc(parts.join(' · ') || 'reported');
}

export class ConnectionsPanel {
    constructor() {
        /** the token was refused `debug_access`: do not ask again with it */
        this.debugDenied = false;
    }

    /** Another token: ask for health again. */
    tokenChanged() {
        this.debugDenied = false;
    }

    /**
     * Shows the connections of a `/stats` answer, with their health when the token allows.
     * @param {string} streamId
     * @param {any[]} conns
     * @param {string} token   '' for none
     */
    async show(streamId, conns, token) {
        /** @type {Map<string, any>} */
        const health = new Map();
        if (token && !this.debugDenied) {
            try {
                const r = await fetchConnectionHealth(streamId, token);
                if (r.ok) for (const c of r.body?.connections ?? []) health.set(String(c.id), c);
                else if (r.status === 401 || r.status === 403) this.debugDenied = true;
            } catch {
                // the basic table is still useful
            }
        }
        $('conn-note').textContent = health.size
            ? 'Health from /debug/connections.'
            : this.debugDenied
              ? 'The token lacks debug_access: health details are not shown.'
              : 'Enter a token with debug_access (Controls) to see each connection’s health.';
        const now = Date.now();
        $('conn-body').innerHTML = conns.length
            ? conns
                  .map((c) => {
                      const h = health.get(String(c.id));
                      const status = h ? `<span class="badge lvl-${esc(h.status)}">${esc(h.status)}</span>${h.warnings?.length ? ` <span class="small">${esc(h.warnings.join('; '))}</span>` : ''}` : '<span class="muted">–</span>';
                      const uaFull = String(c.user_agent ?? '');
                      const ua = uaFull.match(/(Firefox|Edg|OPR|HeadlessChrome|Chrome|Safari|curl|ondes[\w-]*|reqwest)\/[\d.]+/)?.[0] ?? uaFull.slice(0, 32);
                      return `<tr><td>${esc(c.id)}</td><td>${esc(c.transport ?? 'sse')}</td><td class="wrap">${esc(c.ip_address)}${ua ? ` · <span class="muted">${esc(ua)}</span>` : ''}</td>` +
                          `<td>${fmt.dur((now - c.connected_at) / 1000)}</td><td>${fmt.int(c.frames_sent)}</td><td>${fmt.int(c.skipped_frames ?? 0)}</td>` +
                          `<td>${fmt.ms(c.latency_ms)}</td><td>${fmt.bytes(c.bytes_sent)}</td><td>${clientReport(c.client_report)}</td><td class="wrap">${status}</td></tr>`;
                  })
                  .join('')
            : '<tr><td colspan="10" class="muted">no listeners</td></tr>';
    }
}
