// @ts-check
/**
 * The "Performance monitor" panel: `GET /api/perf` (docs/perf.md) every 5 s — the measured
 * stages worst first with their level as text, then bottlenecks, alerts and SLA checks. A
 * server without the perf monitor answers 404: the panel says "Not available" and asks
 * again only once a minute.
 */

import { $, esc } from './dom.js';
import { fmt } from './format.js';
import { fetchPerf } from './dashboard-api.js';

/** How long a 404 is believed before asking again, ms. */
const RECHECK_UNAVAILABLE_MS = 60_000;

export class PerfPanel {
    constructor() {
        /** @type {boolean|null} null until the first answer */
        this.available = null;
        this.lastCheck = 0;
    }

    /** Asks the server and shows the answer. */
    async refresh() {
        const now = Date.now();
        if (this.available === false && now - this.lastCheck < RECHECK_UNAVAILABLE_MS) return;
        this.lastCheck = now;
        let res;
        try {
            res = await fetchPerf();
        } catch {
            return;
        }
        if (!res.ok || !res.body) {
            this.available = false;
            $('perf-body').innerHTML =
                res.status === 404
                    ? '<p class="muted" data-perf="unavailable">Not available: this server has no performance monitor (<code>GET /api/perf</code> answered 404).</p>'
                    : `<p class="muted" data-perf="unavailable">Not available (<code>GET /api/perf</code> answered ${res.status}).</p>`;
            return;
        }
        this.available = true;
        $('perf-body').innerHTML = renderPerf(res.body);
    }
}

/**
 * Renders the perf monitor's report (docs/perf.md, `GET /api/perf`): measured operations
 * worst first with their level as text, then bottlenecks, alerts and SLA checks. Tolerant
 * of missing fields (and of `operations` given as an object keyed by name).
 */
export function renderPerf(/** @type {any} */ j) {
    const raw = j.operations ?? [];
    /** @type {any[]} */
    const ops = Array.isArray(raw) ? raw : Object.entries(raw).map(([name, v]) => ({ name, ...(/** @type {any} */ (v)) }));
    const nameOf = (/** @type {any} */ o) => o?.name ?? o?.op ?? o?.operation ?? '?';
    const lvl = (/** @type {any} */ l) => (l ? `<span class="badge lvl-${esc(String(l).toUpperCase())}">${esc(String(l).toUpperCase())}</span>` : '–');
    const measured = ops.filter((o) => o.stats);
    const idle = ops.filter((o) => !o.stats).map(nameOf);
    const rows = measured
        .map((op) => {
            const st = op.stats;
            const trend = typeof op.trend === 'object' && op.trend ? op.trend.trend : op.trend;
            const success = typeof st.success_rate === 'number' ? `${(st.success_rate * 100).toFixed(1)} %` : '–';
            const pct = typeof op.ratio === 'number' ? ` <span class="muted small">${fmt.fixed(op.ratio * 100, op.ratio < 0.1 ? 1 : 0)} %</span>` : '';
            return `<tr><td>${esc(nameOf(op))}</td><td>${lvl(op.level)}${pct}</td><td>${fmt.int(st.count)}</td>` +
                `<td>${fmt.us(st.avg_us)}</td><td>${fmt.us(st.p95_us)}</td><td>${fmt.us(st.p99_us)}</td><td>${fmt.us(st.max_us)}</td>` +
                `<td>${fmt.us(op.threshold_us)}</td><td>${success}</td><td>${esc(trend ?? '–')}</td></tr>`;
        })
        .join('');
    const items = (/** @type {any} */ xs) => (Array.isArray(xs) ? xs : []);
    const bottlenecks = items(j.bottlenecks).map(
        (b) =>
            `<li>${lvl(b.level)} <b>${esc(nameOf(b))}</b>${typeof b.ratio === 'number' ? ` at ${Math.round(b.ratio * 100)} % of its threshold` : ''}` +
            `${b.suggestions?.length ? ` — ${esc(b.suggestions[0])}` : ''}</li>`,
    );
    const alerts = items(j.alerts).map(
        (a) => `<li><b>${esc(a.kind ?? 'alert')}</b>: ${esc(a.message ?? nameOf(a))}${a.suggestions?.length ? ` — ${esc(a.suggestions[0])}` : ''}</li>`,
    );
    const slas = items(j.slas).map((x) => `<li><b>${esc(String(x.status ?? '').toUpperCase())}</b> ${esc(x.description ?? nameOf(x))}${typeof x.measured_us === 'number' ? ` (measured ${fmt.us(x.measured_us)})` : ''}</li>`);
    const list = (/** @type {string[]} */ li, /** @type {string} */ title, /** @type {string} */ none) =>
        li.length ? `<p class="list-title">${title}:</p><ul class="plain">${li.join('')}</ul>` : `<p class="muted small">${none}</p>`;
    return (
        `<div class="table-wrap"><table data-perf="table"><thead><tr><th scope="col">operation</th><th scope="col">level</th><th scope="col">count</th><th scope="col">avg</th><th scope="col">p95</th><th scope="col">p99</th><th scope="col">max</th><th scope="col">threshold</th><th scope="col">success</th><th scope="col">trend</th></tr></thead>` +
        `<tbody>${rows || '<tr><td colspan="10" class="muted">no operation measured yet</td></tr>'}</tbody></table></div>` +
        (idle.length ? `<p class="muted small">No data yet: ${idle.map(esc).join(', ')}.</p>` : '') +
        list(bottlenecks, 'Bottlenecks (worst first)', 'No bottleneck: every measured stage is within its threshold.') +
        list(alerts, 'Alerts', 'No alerts.') +
        (slas.length ? list(slas, 'SLA checks', '') : '')
    );
}
