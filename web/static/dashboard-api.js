// @ts-check
/**
 * The dashboard's reads of the HTTP API. Each resolves to `{ok, status, body}` (body null
 * when the answer is not JSON) and rejects only when the server cannot be reached, so that
 * panels can tell "not available" (a 404) from "refused" (401/403) from "unreachable".
 * Nothing is cached: the figures are live.
 */

/**
 * @typedef {object} JsonResponse
 * @property {boolean} ok
 * @property {number} status
 * @property {any} body
 */

/** @returns {Promise<JsonResponse>} */
export async function getJson(/** @type {string} */ url, /** @type {RequestInit} */ init = {}) {
    const r = await fetch(url, { cache: 'no-store', ...init });
    const body = await r.json().catch(() => null);
    return { ok: r.ok, status: r.status, body };
}

const streamPath = (/** @type {string} */ id) => `/api/streams/${encodeURIComponent(id)}`;

/** `GET /api/streams`: every stream with its source, format, listeners and state. */
export const fetchStreams = () => getJson('/api/streams');

/**
 * `GET /api/streams/{id}/stats`: counters, rates, server load and the connections. With a
 * token: who each listener is (address, user agent, report) when it has `debug_access`,
 * and the stats at all when the server requires a token to listen.
 */
export const fetchStreamStats = (/** @type {string} */ id, /** @type {string | null | undefined} */ token = null) =>
    getJson(`${streamPath(id)}/stats`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});

/** `GET /api/streams/{id}/debug/connections`: each connection's health; needs `debug_access`. */
export const fetchConnectionHealth = (/** @type {string} */ id, /** @type {string} */ token) =>
    getJson(`${streamPath(id)}/debug/connections`, { headers: { Authorization: `Bearer ${token}` } });

/** `GET /api/cluster`: this node, the nodes it hears, the origin → edge delay (docs/cluster.md). */
export const fetchCluster = () => getJson('/api/cluster');

/** `GET /api/perf`: the perf monitor's report (404 on a server without one). */
export const fetchPerf = () => getJson('/api/perf');
