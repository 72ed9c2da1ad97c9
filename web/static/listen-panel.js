// @ts-check
/**
 * The "Listen" panel: plays the selected stream through the {@link Player} (its own
 * connection: WebSocket Opus decoded by WebCodecs, 16-bit PCM when the browser cannot
 * decode Opus, SSE if the WebSocket fails) and shows the player's figures — state,
 * transport, buffer, target, latency, underruns, concealment, RTT — at most 4 times a second.
 */

import { $ } from './dom.js';
import { fmt } from './format.js';
import { Player } from './player.js';

/** The player's figures change at most this often on screen, ms. */
const SHOW_EVERY_MS = 250;

/** "WebSocket · Opus 64 kbit/s" and the like. */
export function transportText(/** @type {import('./player-stats.js').PlayerStats} */ s) {
    const [t] = s.source.split('-');
    const transport = t === 'ws' ? 'WebSocket' : t === 'sse' ? 'SSE' : s.source;
    const codec = s.codec === 'opus' ? `Opus${s.rung && /^\d+$/.test(s.rung) ? ` ${s.rung} kbit/s` : ''}` : s.codec === 'pcm16' ? '16-bit PCM' : (s.codec ?? '');
    return codec ? `${transport} · ${codec}` : transport;
}

/**
 * @typedef {object} ListenTarget
 * @property {string} streamId
 * @property {string} token   '' for none
 * @property {{sample_rate: number, frame_ms: number}|undefined} info  the stream as /api/streams describes it
 */

export class ListenPanel {
    /** @param {{onPlayer?: (player: Player) => void}} [hooks]  told of each new Player (the page exposes it) */
    constructor(hooks = {}) {
        this.hooks = hooks;
        /** @type {Player|null} */
        this.player = null;
    }

    get playing() {
        return !!this.player;
    }

    /** Starts playing. Call it from the click (autoplay policy). @param {ListenTarget} t */
    start({ streamId, token, info }) {
        const player = new Player('', {
            streamId,
            token: token || null,
            sampleRate: info?.sample_rate,
            frameMs: info?.frame_ms,
            volume: Number(/** @type {HTMLInputElement} */ ($('volume')).value),
        });
        this.player = player;
        this.hooks.onPlayer?.(player);
        let lastShown = 0;
        player.onStats = (s) => {
            const now = performance.now();
            if (now - lastShown < SHOW_EVERY_MS) return;
            lastShown = now;
            $('ps-state').textContent = s.state === 'playing' ? `playing (${s.source})` : s.state;
            $('ps-buffer').textContent = fmt.ms(s.bufferMs);
            $('ps-target').textContent = `${fmt.ms(s.targetMs)} (jitter ${fmt.ms(s.jitterMs)})`;
            $('ps-latency').textContent = fmt.ms(s.latencyMs);
            $('ps-underruns').textContent = fmt.int(s.underruns);
            $('ps-concealed').textContent = fmt.ms(s.concealedMs);
            $('ps-transport').textContent = transportText(s);
            $('ps-rtt').textContent = s.rttMs === null ? '–' : fmt.ms(s.rttMs);
        };
        player.onError = (e) => {
            $('ps-state').textContent = `error: ${e.message}`;
        };
        this.setButton(true);
        player.start().catch((e) => {
            $('ps-state').textContent = `could not start: ${e?.message ?? e}`;
            this.setButton(false);
            this.player = null;
        });
    }

    stop() {
        const p = this.player;
        this.player = null;
        this.setButton(false);
        $('ps-state').textContent = 'stopped';
        $('ps-transport').textContent = '–';
        $('ps-rtt').textContent = '–';
        p?.stop().catch(() => {});
    }

    /** @param {number} v 0..1 */
    setVolume(v) {
        this.player?.setVolume(v);
    }

    /** @private */
    setButton(/** @type {boolean} */ on) {
        const b = $('listen-btn');
        b.setAttribute('aria-pressed', String(on));
        b.innerHTML = on ? '<span aria-hidden="true">■</span> Stop' : '<span aria-hidden="true">▶</span> Listen';
    }
}
