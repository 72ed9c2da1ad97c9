// @ts-check
/**
 * The "Controls" panel: the token (kept in `sessionStorage`, i.e. for this tab only, never
 * longer), pause, resume and the quality cap, sent as `POST …/control` with the token. The
 * outcome is shown as text, with a hint for the usual refusals (401 no token, 403 a token
 * without `stream_control`).
 */

import { $ } from './dom.js';
import { fmt } from './format.js';
import { ACTION } from './protocol.js';

/** The sessionStorage key of the token. */
export const TOKEN_KEY = 'ondes.token';

/**
 * @typedef {object} ControlsInputs
 * @property {() => {sample_rate: number}|undefined} streamInfo  the selected stream, for the quality's rate
 * @property {() => import('./client.js').AudioStreamClient} client  a client of the selected stream, to send commands with
 * @property {(token: string) => void} onTokenChange  '' when forgotten
 */

export class ControlsPanel {
    /** @param {ControlsInputs} inputs */
    constructor(inputs) {
        this.inputs = inputs;
        /** '' for none */
        this.token = sessionStorage.getItem(TOKEN_KEY) || '';
    }

    /** Connects the form and buttons. */
    wire() {
        const tokenInput = /** @type {HTMLInputElement} */ ($('token'));
        tokenInput.value = this.token;
        $('token-form').addEventListener('submit', (e) => {
            e.preventDefault();
            this.setToken(tokenInput.value.trim());
        });
        $('token-clear').addEventListener('click', () => {
            tokenInput.value = '';
            this.setToken('');
        });
        $('btn-pause').addEventListener('click', () => this.command(ACTION.PAUSE));
        $('btn-resume').addEventListener('click', () => this.command(ACTION.RESUME));
        $('quality').addEventListener('input', () => this.showQuality());
        $('btn-quality').addEventListener('click', () => this.command(ACTION.ADJUST_QUALITY, { quality: this.quality() }));
        for (const b of document.querySelectorAll('#controls .btn-level')) {
            const level = /** @type {HTMLElement} */ (b).dataset.level;
            b.addEventListener('click', () => this.command(ACTION.ADJUST_QUALITY, { quality: level }));
        }
    }

    /** @private */
    setToken(/** @type {string} */ token) {
        this.token = token;
        if (token) sessionStorage.setItem(TOKEN_KEY, token);
        else sessionStorage.removeItem(TOKEN_KEY);
        this.showToken();
        this.inputs.onTokenChange(token);
    }

    showToken() {
        $('token-state').textContent = this.token
            ? 'A token is set for this tab (kept in sessionStorage until the tab closes).'
            : 'No token: controls will be refused (401).';
    }

    /** @private */
    quality() {
        return Number(/** @type {HTMLInputElement} */ ($('quality')).value);
    }

    /**
     * The slider's value, and the sample rate it means for the selected stream.
     * @param {string} [level]  the named level the cap was set as, if any
     */
    showQuality(level) {
        const q = this.quality();
        const info = this.inputs.streamInfo();
        const hz = info ? ` → ${fmt.hz(info.sample_rate * q)}` : '';
        $('quality-text').textContent = `${q.toFixed(2)}${level ? ` (${level})` : ''}${hz}`;
    }

    /**
     * The stream's quality changed (someone applied it): the slider follows.
     * @param {number} q  the share of the rate
     * @param {string} [level]  the level's name, when the cap was set as one
     */
    setQuality(q, level) {
        /** @type {HTMLInputElement} */ ($('quality')).value = String(q);
        this.showQuality(level);
    }

    /**
     * Sends a command and shows the outcome.
     * @param {string} action  one of `ACTION`
     * @param {Record<string, unknown>} [params]
     */
    async command(action, params) {
        const out = $('control-result');
        out.className = 'result';
        out.textContent = `${action}…`;
        const client = this.inputs.client();
        client.authToken = this.token || null;
        try {
            const r = await client.sendCommand(action, params);
            out.className = 'result ok';
            out.textContent = `✓ ${r?.message ?? 'done'}`;
        } catch (e) {
            const err = /** @type {any} */ (e);
            out.className = 'result err';
            const hint = err.status === 401 ? ' — enter a token above' : err.status === 403 ? ' — the token lacks stream_control' : '';
            out.textContent = `✗ ${err.status ? `${err.status} ` : ''}${err.detail ?? err.message}${hint}`;
        }
    }
}
