// The dashboard served by `ondes serve` at `/`, in a real Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startOndes, launchBrowser, watchConsole, mintToken, ensureArtifacts, sleep } from './helpers.mjs';

const SECRET = 'dashboard-test-secret';
/** @type {Awaited<ReturnType<typeof startOndes>>} */
let ondes;
/** @type {Awaited<ReturnType<typeof launchBrowser>>} */
let browser;

before(async () => {
    ondes = await startOndes({ env: { ONDES_AUTH_SECRET: SECRET } });
    browser = await launchBrowser({ viewport: { width: 1280, height: 900 } });
});

after(async () => {
    await browser?.close();
    await ondes?.stop();
});

/**
 * Pixels of the waveform canvas in each channel's colour, with their vertical extent and
 * a per-column signature (to tell two snapshots apart).
 */
function waveSnapshot(page) {
    return page.evaluate(() => {
        const c = /** @type {HTMLCanvasElement} */ (document.getElementById('wave'));
        const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
        const { width: W, height: H } = c;
        const d = g.getImageData(0, 0, W, H).data;
        const near = (i, [r, gg, b]) => Math.abs(d[i] - r) + Math.abs(d[i + 1] - gg) + Math.abs(d[i + 2] - b) < 90;
        const A = [57, 197, 207];
        const B = [240, 180, 41];
        const bg = [10, 14, 20];
        let a = 0;
        let b = 0;
        let other = 0;
        let aMin = H;
        let aMax = 0;
        let bMin = H;
        let bMax = 0;
        const sig = new Array(W).fill(0);
        for (let y = 0; y < H; y++) {
            for (let x = 0; x < W; x++) {
                const i = (y * W + x) * 4;
                if (near(i, A)) {
                    a++;
                    aMin = Math.min(aMin, y);
                    aMax = Math.max(aMax, y);
                    sig[x] += y;
                } else if (near(i, B)) {
                    b++;
                    bMin = Math.min(bMin, y);
                    bMax = Math.max(bMax, y);
                } else if (!near(i, bg)) other++;
            }
        }
        return { W, H, a, b, other, aSpan: (aMax - aMin) / (H / 2), bSpan: (bMax - bMin) / (H / 2), aTop: aMin, bTop: bMin, sig };
    });
}

test('the dashboard loads, draws the demo signal, updates stats, and saves a screenshot', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    const t0 = Date.now();
    const resp = await page.goto(`${ondes.url}/`);
    assert.equal(resp?.status(), 200);
    assert.match(resp?.headers()['content-type'] ?? '', /^text\/html/);
    assert.equal(resp?.headers()['cache-control'], 'no-cache');

    // within 3 s of loading, both channels are drawn: many pixels in each channel's
    // colour, spanning a good part of each lane (the demo is loud: about −8 dBFS peaks)
    let snap;
    for (;;) {
        snap = await waveSnapshot(page);
        const W = snap.W;
        if (snap.a > W && snap.b > W && snap.aSpan > 0.2 && snap.bSpan > 0.2) break;
        assert.ok(Date.now() - t0 < 3000, `no demo signal on the waveform canvas within 3 s: ${JSON.stringify({ ...snap, sig: undefined })}`);
        await sleep(100);
    }
    assert.ok(snap.aTop < snap.H / 2, 'channel A is drawn in the upper lane');
    assert.ok(snap.bTop >= snap.H / 2 - 2, 'channel B is drawn in the lower lane');

    // the picture moves: two snapshots 400 ms apart differ in most columns
    await sleep(400);
    const snap2 = await waveSnapshot(page);
    assert.ok(snap2.a > snap2.W, 'still drawn');
    let changed = 0;
    for (let x = 0; x < snap.W; x++) if (snap.sig[x] !== snap2.sig[x]) changed++;
    assert.ok(changed > snap.W * 0.3, `waveform changes between snapshots (${changed} of ${snap.W} columns)`);

    // frame info and meters as text
    await page.waitForFunction(() => /^#\d/.test(document.getElementById('fi-frame')?.textContent ?? ''), null, { timeout: 3000 });
    const meterA = await page.textContent('#meter-a-text');
    assert.match(meterA ?? '', /RMS −\d+\.\d dBFS · peak −\d+\.\d dBFS/);
    const rmsA = Number(/RMS −(\d+\.\d)/.exec(meterA ?? '')?.[1]);
    assert.ok(rmsA > 3 && rmsA < 30, `channel A RMS is plausible for the demo (−${rmsA} dBFS)`);
    assert.match((await page.textContent('#fi-rate')) ?? '', /48 kHz/);
    assert.match((await page.textContent('#fi-duration')) ?? '', /^20 ms$/);
    assert.equal(await page.getAttribute('#conn-state', 'data-state'), 'live');
    assert.match((await page.textContent('#conn-state')) ?? '', /Live/);
    // the spectrum names the strongest frequencies
    await page.waitForFunction(() => /A \d/.test(document.getElementById('spec-peaks')?.textContent ?? ''), null, { timeout: 3000 });

    // stats refresh (every 2 s): the counters move between two updates
    await page.waitForFunction(() => Number(document.getElementById('stats')?.dataset.updates) >= 1, null, { timeout: 5000 });
    const readStats = () =>
        page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#stats-list [data-key]')].map((el) => [el.getAttribute('data-key'), el.querySelector('dd')?.textContent])));
    const s1 = await readStats();
    const u1 = Number(await page.getAttribute('#stats', 'data-updates'));
    await page.waitForFunction((u) => Number(document.getElementById('stats')?.dataset.updates) > u, u1, { timeout: 5000 });
    const s2 = await readStats();
    const frames = (s) => Number(String(s.frames).replace(/,/g, ''));
    assert.ok(frames(s2) > frames(s1), `total frames grow: ${s1.frames} → ${s2.frames}`);
    assert.ok(Number(s2.listeners) >= 1, `the dashboard itself is a listener (${s2.listeners})`);
    assert.ok(Number(s2.fps) > 30, `frames/s shown (${s2.fps})`);
    assert.match(s2.mbps ?? '', /Mbit\/s/);
    // the delivery report: the dashboard's own SSE listener gets PCM as text, efficiency between 0 and 100 %
    const eff = Number((s2.efficiency ?? '').replace(' %', ''));
    assert.ok(eff > 0 && eff < 100, `efficiency shown (${s2.efficiency})`);
    // the stream's delivery mode (the default) from the same report
    assert.equal(s2.delivery, 'adaptive', `delivery mode shown (${s2.delivery})`);
    const sparkPoints = await page.getAttribute('#stats-list [data-key="fps"] polyline', 'points');
    assert.ok((sparkPoints ?? '').split(' ').length >= 2, 'the frames/s sparkline has points');
    const connRows = await page.locator('#conn-body tr').count();
    assert.ok(connRows >= 1, 'the connections table lists the dashboard');
    assert.match((await page.textContent('#conn-body')) ?? '', /sse/);
    assert.match((await page.textContent('#streams-body')) ?? '', /main.*demo tone/s);

    // the perf panel: a table when the server has /api/perf, otherwise "not available"
    await page.waitForFunction(() => !/loading/.test(document.getElementById('perf-body')?.textContent ?? 'loading'), null, { timeout: 5000 });
    const perfStatus = (await fetch(`${ondes.url}/api/perf`)).status;
    const perfText = (await page.textContent('#perf-body')) ?? '';
    if (perfStatus === 404) assert.match(perfText, /Not available/);
    else assert.ok((await page.locator('#perf-body table').count()) === 1, `perf table shown (GET /api/perf → ${perfStatus})`);

    const dir = ensureArtifacts();
    await page.screenshot({ path: path.join(dir, 'dashboard.png'), fullPage: true });

    // no console errors; the one 404 the page may cause is its probe of /api/perf on a
    // server without the perf monitor (a browser always logs a failed fetch)
    const unexpected = errors.filter((e) => !(perfStatus === 404 && /\/api\/perf$/.test(e.url) && /404/.test(e.text)));
    assert.deepEqual(unexpected, [], 'no console errors');
});

test('controls are keyboard-operable and show the paused / live states', async () => {
    const { page } = browser;
    await page.goto(`${ondes.url}/`);
    await page.waitForFunction(() => document.getElementById('conn-state')?.dataset.state === 'live', null, { timeout: 5000 });

    // without a token, Pause is refused and the page says why (reached with Tab, pressed with Enter)
    let reached = false;
    for (let i = 0; i < 60 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.id === 'btn-pause');
    }
    assert.ok(reached, 'the Pause button is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /401/.test(document.getElementById('control-result')?.textContent ?? ''), null, { timeout: 5000 });
    assert.match((await page.textContent('#control-result')) ?? '', /401.*enter a token/);

    // with a token (typed, then submitted with Enter): pause → "Paused", resume → "Live"
    const token = mintToken(SECRET, ['stream_control', 'debug_access']);
    await page.focus('#token');
    await page.keyboard.type(token);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('conn-state')?.dataset.state === 'live', null, { timeout: 5000 });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('ondes.token')), token, 'token kept in sessionStorage');
    await page.focus('#btn-pause');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('conn-state')?.dataset.state === 'paused', null, { timeout: 5000 });
    assert.match((await page.textContent('#conn-state')) ?? '', /Paused/);
    assert.match((await page.textContent('#control-result')) ?? '', /✓ stream paused/);
    // the token has debug_access: connection health appears
    await page.waitForFunction(() => /healthy|warning/.test(document.getElementById('conn-body')?.textContent ?? ''), null, { timeout: 6000 });
    await page.focus('#btn-resume');
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.getElementById('conn-state')?.dataset.state === 'live', null, { timeout: 5000 });
    assert.match((await page.textContent('#conn-state')) ?? '', /Live/);

    // quality: the slider with arrow keys, then Apply
    await page.focus('#quality');
    await page.keyboard.press('ArrowLeft');
    assert.match((await page.textContent('#quality-text')) ?? '', /0\.75/);
    await page.keyboard.press('ArrowLeft');
    await page.click('#btn-quality');
    await page.waitForFunction(() => /quality set to 0\.5/.test(document.getElementById('control-result')?.textContent ?? ''), null, { timeout: 5000 });
    // the visual stream follows: 48 kHz stream, shown at 12 kHz (quality 0.5 × lightweight 2:1)
    await page.waitForFunction(() => /shown 12 kHz/.test(document.getElementById('fi-rate')?.textContent ?? ''), null, { timeout: 5000 });
    // back to full quality
    await page.evaluate(() => {
        const q = /** @type {HTMLInputElement} */ (document.getElementById('quality'));
        q.value = '1';
        q.dispatchEvent(new Event('input'));
    });
    await page.click('#btn-quality');
    await page.waitForFunction(() => /quality set to 1/.test(document.getElementById('control-result')?.textContent ?? ''), null, { timeout: 5000 });
    // a named level: low is a quarter of the rate for PCM, the slider follows and names it
    await page.click('#controls .btn-level[data-level="low"]');
    await page.waitForFunction(() => /quality set to low/.test(document.getElementById('control-result')?.textContent ?? ''), null, { timeout: 5000 });
    await page.waitForFunction(() => /0\.25 \(low\)/.test(document.getElementById('quality-text')?.textContent ?? ''), null, { timeout: 5000 });
    await page.click('#controls .btn-level[data-level="high"]');
    await page.waitForFunction(() => /quality set to high/.test(document.getElementById('control-result')?.textContent ?? ''), null, { timeout: 5000 });
});

test('usable on a phone-sized screen', async () => {
    const phone = await launchBrowser({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    try {
        const { page } = phone;
        await page.goto(`${ondes.url}/`);
        await page.waitForFunction(() => document.getElementById('conn-state')?.dataset.state === 'live', null, { timeout: 5000 });
        await sleep(1500);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `no horizontal scrolling of the page (overflow ${overflow}px)`);
        const canvasW = await page.evaluate(() => document.getElementById('wave')?.getBoundingClientRect().width ?? 0);
        assert.ok(canvasW > 300 && canvasW <= 390, `the waveform fits the screen (${canvasW}px)`);
        const small = await page.evaluate(() =>
            [...document.querySelectorAll('button')].filter((b) => b.getBoundingClientRect().height < 32).map((b) => b.textContent),
        );
        assert.deepEqual(small, [], 'buttons are large enough to tap');
        await page.screenshot({ path: path.join(ensureArtifacts(), 'dashboard-phone.png') });
    } finally {
        await phone.close();
    }
});
