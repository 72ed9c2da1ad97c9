// The dashboard's Cluster panel on a real cluster: a real nats-server on loopback, an ondes
// origin and an ondes edge (real processes), and the edge's dashboard in a real Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startOndes, launchBrowser, watchConsole, ensureArtifacts, sleep, ARTIFACTS } from './helpers.mjs';

/** A free loopback port. */
function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = /** @type {net.AddressInfo} */ (s.address());
            s.close(() => resolve(port));
        });
    });
}

/** Resolves once something accepts connections on the port. */
async function waitPort(/** @type {number} */ port, ms = 10000) {
    const until = Date.now() + ms;
    for (;;) {
        const ok = await new Promise((r) => {
            const c = net.connect(port, '127.0.0.1', () => (c.end(), r(true)));
            c.once('error', () => r(false));
        });
        if (ok) return;
        if (Date.now() > until) throw new Error(`nothing listens on ${port} after ${ms} ms`);
        await sleep(100);
    }
}

/** @type {import('node:child_process').ChildProcess} */
let nats;
/** @type {Awaited<ReturnType<typeof startOndes>>[]} */
const nodes = [];
/** @type {Awaited<ReturnType<typeof launchBrowser>>} */
let browser;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ondes-cluster-web-'));

function config(/** @type {number} */ natsPort, /** @type {string} */ role, /** @type {string} */ node) {
    const file = path.join(dir, `${node}.toml`);
    const stream = role === 'origin' ? '[[stream]]\nid = "radio"\nsource = "tone:demo"\nrungs = "16,32,64"\n' : '';
    fs.writeFileSync(file, `[cluster]\nnats_url = "nats://127.0.0.1:${natsPort}"\nrole = "${role}"\nnode_id = "${node}"\n${stream}`);
    return file;
}

before(async () => {
    const port = await freePort();
    // the test command installs Debian's nats-server; without it this fails here, loudly
    nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    nats.once('error', (e) => {
        throw new Error(`cannot start nats-server (apt-get install nats-server): ${e.message}`);
    });
    await waitPort(port);
    nodes.push(await startOndes({ args: ['-c', config(port, 'origin', 'origin-web')] }));
    nodes.push(await startOndes({ args: ['-c', config(port, 'edge', 'edge-web')] }));
    browser = await launchBrowser({ viewport: { width: 1280, height: 1400 } });
});

after(async () => {
    await browser?.close();
    for (const n of nodes) await n.stop();
    nats?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
});

test('the edge dashboard shows the nodes, the origin → edge delay and the NATS connection', async () => {
    const [, edge] = nodes;
    // a listener on the edge brings the origin's stream over NATS
    const ctl = new AbortController();
    const listening = fetch(`${edge.url}/api/streams/radio/stream?max_fps=5`, { signal: ctl.signal }).then((r) => r.body?.getReader().read()).catch(() => null);
    const page = await browser.context.newPage();
    const errors = watchConsole(page);
    await page.goto(`${edge.url}/`);
    await page.waitForFunction(
        () => {
            const t = document.getElementById('cluster-body')?.textContent ?? '';
            return t.includes('origin-web') && t.includes('edge-web') && t.includes('origin → edge p50');
        },
        null,
        { timeout: 20000 },
    );
    const text = (await page.textContent('#cluster-body')) ?? '';
    assert.match(text, /This node: edge-web \(edge\)/);
    assert.match(text, /connected/);
    assert.match(text, /radio/, 'the stream received here, with its delay');
    const rows = await page.locator('#cluster-nodes tr').allTextContents();
    assert.ok(rows.some((r) => r.includes('origin-web') && r.includes('origin')), `origin row: ${rows}`);
    assert.ok(rows.some((r) => r.includes('edge-web') && r.includes('edge') && /radio \(relayed\): [1-9]/.test(r)), `edge row with its listener: ${rows}`);
    ensureArtifacts();
    await page.locator('#cluster').screenshot({ path: path.join(ARTIFACTS, 'dashboard-cluster.png') });
    assert.deepEqual(errors, [], 'no console errors');
    ctl.abort();
    await listening;
    await page.close();
});

test('a server without a cluster says it runs alone', async () => {
    const alone = await startOndes();
    nodes.push(alone);
    const page = await browser.context.newPage();
    await page.goto(`${alone.url}/`);
    await page.waitForSelector('[data-cluster="standalone"]', { timeout: 10000 });
    assert.match((await page.textContent('#cluster-body')) ?? '', /runs alone/);
    await page.close();
});
