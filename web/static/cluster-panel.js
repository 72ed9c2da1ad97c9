// @ts-check
/**
 * The "Cluster" panel: `GET /api/cluster` (docs/cluster.md) every 5 s — this node's role and
 * NATS connection, the nodes heard from (role, listeners, streams, heartbeat age), the
 * origin → edge delay per stream received here, and the counters that say something went
 * wrong (gaps, drops, slow consumers, epoch changes). A server without a `[cluster]`
 * section shows one line saying so; the panel stays out of the way.
 */

import { $, esc } from './dom.js';
import { fmt } from './format.js';
import { fetchCluster } from './dashboard-api.js';

export class ClusterPanel {
    /** Asks the server and shows the answer. */
    async refresh() {
        let res;
        try {
            res = await fetchCluster();
        } catch {
            return;
        }
        if (!res.ok || !res.body) {
            $('cluster-body').innerHTML = `<p class="muted" data-cluster="unavailable">Not available (<code>GET /api/cluster</code> answered ${res.status}).</p>`;
            return;
        }
        $('cluster-body').innerHTML = renderCluster(res.body);
    }
}

/** Counters shown when not zero: each one means frames or messages went missing. */
const TROUBLE = [
    ['gaps', 'gaps'],
    ['gap_frames', 'frames in gaps'],
    ['refetched_frames', 'frames fetched again from the origin (late, not lost)'],
    ['publish_dropped_frames', 'frames dropped before NATS'],
    ['tap_skipped_frames', 'frames the tap skipped'],
    ['slow_consumers', 'slow-consumer events'],
    ['disconnects', 'NATS disconnects'],
    ['epoch_changes', 'origin epoch changes'],
    ['bad_messages', 'bad messages'],
];

/** Renders `/api/cluster` (tolerant of missing fields). */
export function renderCluster(/** @type {any} */ c) {
    if (!c.enabled) {
        return `<p class="muted" data-cluster="standalone">${esc(c.message ?? 'This server runs alone (no [cluster] section).')}</p>`;
    }
    const k = c.counters ?? {};
    const conn = c.connected ? '<span class="badge lvl-GOOD">connected</span>' : '<span class="badge lvl-error">NATS away</span>';
    const head =
        `<p data-cluster="node">This node: <strong>${esc(c.node_id)}</strong> (${esc(c.role)}) · ${conn} · ` +
        `in ${fmt.int(k.messages_in)} msgs / ${fmt.bytes(k.bytes_in)} · out ${fmt.int(k.messages_out)} msgs / ${fmt.bytes(k.bytes_out)}</p>`;
    const nodes = (c.nodes ?? [])
        .map((/** @type {any} */ n) => {
            const streams = (n.streams ?? []).map((/** @type {any} */ s) => `${esc(s.id)}${s.from_cluster ? ' (relayed)' : ''}: ${fmt.int(s.listeners)}`).join(', ');
            const age = Number(n.last_heartbeat_secs);
            return `<tr${n.this_node ? ' class="selected"' : ''}><td>${esc(n.node_id)}</td><td>${esc(n.role)}</td><td>${fmt.int(n.listeners)}</td>` +
                `<td class="wrap">${streams || '–'}</td><td>${Number.isFinite(age) ? `${age.toFixed(1)} s ago` : '–'}</td></tr>`;
        })
        .join('');
    const delays = (c.delay ?? [])
        .map((/** @type {any} */ d) => `<tr><td>${esc(d.stream)}</td><td>${fmt.ms(d.p50_ms)}</td><td>${fmt.ms(d.p99_ms)}</td><td>${fmt.int(d.frames)}</td></tr>`)
        .join('');
    const trouble = TROUBLE.filter(([key]) => Number(k[key]) > 0).map(([key, label]) => `${fmt.int(k[key])} ${label}`);
    return (
        head +
        `<div class="table-wrap"><table><thead><tr><th scope="col">node</th><th scope="col">role</th><th scope="col">listeners</th><th scope="col">streams (listeners)</th><th scope="col">heard</th></tr></thead>` +
        `<tbody id="cluster-nodes">${nodes || '<tr><td colspan="5" class="muted">no node heard from yet</td></tr>'}</tbody></table></div>` +
        (delays
            ? `<div class="table-wrap"><table><thead><tr><th scope="col">stream received here</th><th scope="col">origin → edge p50</th><th scope="col">p99</th><th scope="col">frames</th></tr></thead><tbody>${delays}</tbody></table></div>`
            : '') +
        `<p class="small" data-cluster="trouble">${trouble.length ? `<span class="badge lvl-warning">attention</span> ${esc(trouble.join(' · '))}` : 'No gaps, drops or slow consumers.'}</p>`
    );
}
