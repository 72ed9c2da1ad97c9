// Unit tests of the stats panel's delivery-mode text, from the report's `delivery_mode`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliveryText } from '../static/stats-panel.js';

test('the delivery mode reads as words, with the canary verdict and a rollback', () => {
    assert.equal(deliveryText({}), '–');
    assert.equal(deliveryText({ delivery: { delivery_mode: { mode: 'adaptive', verdict: { state: 'not_compared' } } } }), 'adaptive');
    const canary = (state) => ({ delivery: { delivery_mode: { mode: 'canary', canary_fraction: 0.1, verdict: { state } } } });
    assert.equal(deliveryText(canary('adaptive_ok')), 'canary 10 % · adaptive ok');
    assert.equal(deliveryText(canary('adaptive_worse')), 'canary 10 % · adaptive worse');
    assert.equal(deliveryText(canary('not_compared')), 'canary 10 % · comparing');
    const rolled = { delivery: { delivery_mode: { mode: 'legacy', rollback: { reason: 'adaptive listeners concealed …' } } } };
    assert.equal(deliveryText(rolled), 'legacy (adaptive rolled back)');
});
