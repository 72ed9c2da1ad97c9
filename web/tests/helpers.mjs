// Shared helpers for the browser tests: real `ondes` processes on ephemeral ports, a real
// Chromium (Debian's, driven by playwright-core), and a plain Node HTTP server for pages on
// another origin. Every process started here is killed when the test file ends, also on
// failure (and on an abrupt exit of the runner).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(WEB, '..');
export const ONDES_BIN = process.env.ONDES_BIN ?? path.join(ROOT, 'target', 'debug', 'ondes');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'artifacts');

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();
process.on('exit', () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

if (!fs.existsSync(ONDES_BIN)) {
    throw new Error(`${ONDES_BIN} does not exist: build it first with \`cargo build -p ondes\` (or set ONDES_BIN)`);
}
if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} does not exist: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
}

/**
 * Starts `ondes serve` and waits for "ondes is serving on http://…".
 * @param {{port?: number, env?: Record<string, string>, args?: string[]}} [opts]
 */
export async function startOndes(opts = {}) {
    const port = opts.port ?? 0;
    const args = ['serve', '--bind', `127.0.0.1:${port}`, ...(opts.args ?? [])];
    const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...(opts.env ?? {}) };
    for (const k of Object.keys(env)) if (k.startsWith('ONDES_') && !(opts.env && k in opts.env)) delete env[k];
    const proc = spawn(ONDES_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    let log = '';
    const url = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`ondes did not start within 15 s:\n${log}`)), 15000);
        const onData = (/** @type {Buffer} */ d) => {
            log += d.toString();
            const m = log.match(/ondes is serving on (http:\/\/[\d.:]+)/);
            if (m) {
                clearTimeout(timer);
                resolve(m[1]);
            }
        };
        proc.stderr.on('data', onData);
        proc.stdout.on('data', onData);
        proc.on('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`ondes exited with ${code} before serving:\n${log}`));
        });
    });
    proc.stderr.on('data', (d) => (log += d.toString()));
    const adminToken = log.match(/admin token[^\n]*\n\s*(ey[\w.-]+)/)?.[1] ?? null;
    return {
        url,
        port: Number(new URL(url).port),
        proc,
        adminToken,
        log: () => log,
        /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
        async stop(graceMs = 8000) {
            if (proc.exitCode !== null || proc.signalCode !== null) return;
            const gone = new Promise((r) => proc.once('exit', r));
            proc.kill('SIGTERM');
            const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
            await gone;
            clearTimeout(t);
            children.delete(proc);
        },
    };
}

/** Mints a token with `ondes token`. */
export function mintToken(/** @type {string} */ secret, /** @type {string[]} */ perms, sub = 'web-test') {
    const args = ['token', '--secret', secret, '--sub', sub, '--ttl', '1h'];
    for (const p of perms) args.push('--perm', p);
    return execFileSync(ONDES_BIN, args, { encoding: 'utf8', env: { PATH: process.env.PATH } }).trim().split(/\s+/).pop();
}

/** Launches Chromium with a fresh profile. */
export async function launchBrowser(/** @type {{viewport?: {width: number, height: number}, deviceScaleFactor?: number, args?: string[]}} */ opts = {}) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ondes-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: opts.viewport ?? { width: 1280, height: 900 },
        deviceScaleFactor: opts.deviceScaleFactor ?? 1,
        args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--autoplay-policy=no-user-gesture-required',
            ...(opts.args ?? []),
        ],
    });
    return {
        context,
        page: context.pages()[0] ?? (await context.newPage()),
        async close() {
            await context.close().catch(() => {});
            fs.rmSync(profile, { recursive: true, force: true });
        },
    };
}

/**
 * A static HTTP server on 127.0.0.1 (another origin than ondes).
 * @param {Record<string, {type: string, body: string|Buffer}>} files path → content
 */
export async function startStaticServer(files) {
    const server = http.createServer((req, res) => {
        const f = files[new URL(req.url ?? '/', 'http://x').pathname];
        if (!f) {
            res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
            return;
        }
        res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body);
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
    const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
    return {
        url: `http://127.0.0.1:${addr.port}`,
        close: () => new Promise((r) => server.close(() => r(undefined))),
    };
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchConsole(/** @type {import('playwright-core').Page} */ page) {
    /** @type {{text: string, url: string}[]} */
    const errors = [];
    page.on('console', (m) => {
        if (m.type() === 'error') errors.push({ text: m.text(), url: m.location().url });
    });
    page.on('pageerror', (e) => errors.push({ text: `uncaught: ${e.message}`, url: '' }));
    return errors;
}

export const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

export function ensureArtifacts() {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    return ARTIFACTS;
}
