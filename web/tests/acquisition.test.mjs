// The dashboard's acquisition panel in a real Chromium: per-channel levels measured by the
// server for a stream of known level, their history, and the device section.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startOndes, launchBrowser, watchConsole, ensureArtifacts, sleep } from './helpers.mjs';

/** @type {Awaited<ReturnType<typeof startOndes>>} */
let ondes;
/** @type {Awaited<ReturnType<typeof launchBrowser>>} */
let browser;

before(async () => {
    // a 440 Hz sine at amplitude 0.5: RMS −9.0 dBFS, peak −6.0 dBFS, no DC, no clipping
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ondes-acq-'));
    const cfg = path.join(dir, 'ondes.toml');
    fs.writeFileSync(cfg, '[[stream]]\nid = "lab"\nsource = "tone:sine?freq=440&amp=0.5"\n');
    ondes = await startOndes({ args: ['--config', cfg] });
    browser = await launchBrowser({ viewport: { width: 1280, height: 1000 } });
});

after(async () => {
    await browser?.close();
    await ondes?.stop();
});

test('the acquisition panel shows the server-measured levels of each channel over time', async () => {
    const { page } = browser;
    const errors = watchConsole(page);
    await page.goto(`${ondes.url}/#lab`);
    // stats refresh every 2 s: wait for three refreshes (three points of history)
    const t0 = Date.now();
    while (Number(await page.getAttribute('#acquisition', 'data-updates')) < 3) {
        assert.ok(Date.now() - t0 < 12_000, 'the acquisition panel was not refreshed 3 times within 12 s');
        await sleep(200);
    }
    for (const ch of ['0', '1']) {
        const row = page.locator(`#acq-channels tr[data-ch="${ch}"]`);
        const rms = await row.locator('[data-field="rms"]').textContent();
        const peak = await row.locator('[data-field="peak"]').textContent();
        const dc = await row.locator('[data-field="dc"]').textContent();
        const clipped = await row.locator('[data-field="clipped"]').textContent();
        assert.match(rms ?? '', /^−9\.0 dBFS$/, `channel ${ch} RMS: ${rms}`);
        assert.match(peak ?? '', /^−6\.0 dBFS$/, `channel ${ch} peak: ${peak}`);
        assert.match(dc ?? '', /^-?0\.0\d ‰$/, `channel ${ch} DC: ${dc}`);
        assert.equal(clipped, '0');
        // the history: one point per refresh, on the −60…0 dBFS axis
        const pts = (await row.locator('polyline.acq-rms').getAttribute('points'))?.trim().split(' ') ?? [];
        assert.ok(pts.length >= 3, `RMS history has ${pts.length} points`);
        const y = Number(pts[pts.length - 1].split(',')[1]);
        assert.ok(Math.abs(y - (27 - (51 / 60) * 25)) < 0.3, `RMS history point at y=${y}`);
    }
    const device = await page.textContent('#acq-device [data-field="device"]');
    assert.match(device ?? '', /not a capture stream/);
    await page.locator('#acquisition').screenshot({ path: path.join(ensureArtifacts(), 'acquisition-panel.png') });
    assert.deepEqual(errors, []);
});
