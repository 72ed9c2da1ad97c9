// @ts-check
/**
 * The Player's SSE source: `format=pcm16` through {@link AudioStreamClient}. The fallback
 * when a WebSocket cannot connect at all (a proxy that does not pass upgrades, say). SSE has
 * no upstream, so this source has no `sendReport`: the Player's reports stay local.
 */

import { AudioStreamClient } from './client.js';

/** @typedef {import('./player-source.js').PlayerSink} PlayerSink */

/** SSE `format=pcm16` through {@link AudioStreamClient}. */
export class SsePcm16Source {
    /**
     * @param {string} baseUrl
     * @param {string|null} token
     * @param {string} streamId
     */
    constructor(baseUrl, token, streamId) {
        this.name = 'sse-pcm16';
        this.client = new AudioStreamClient(baseUrl, token, { streamId, format: 'pcm16', historySize: 4, statsIntervalMs: 0 });
    }

    /** @param {PlayerSink} sink */
    async start(sink) {
        const c = this.client;
        c.onFrame = (f) =>
            sink.frame({
                seq: f.frame_number,
                captureMs: f.capture_us !== undefined ? f.capture_us / 1000 : f.timestamp,
                sampleRate: f.sample_rate,
                samples: [/** @type {Float32Array} */ (f.channel_a), /** @type {Float32Array} */ (f.channel_b)],
                receivedMs: f.received_at,
                decodedMs: f.received_at, // base64 PCM is decoded on arrival
            });
        c.onStatus = (s) => sink.status(s);
        c.onStateChange = (s) => sink.state(s);
        c.onError = (e) => sink.error(e);
        await c.connect();
    }

    stop() {
        this.client.disconnect();
    }
}
