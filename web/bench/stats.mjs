// Summary statistics shared by the benches (nearest-rank quantiles, rounded to 0.1).

/** p-quantile (nearest rank) of an ascending array. */
export const quantile = (/** @type {number[]} */ a, /** @type {number} */ p) =>
    a.length ? a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))] : NaN;

/** n, p50, p95 and max of the finite values of `xs`, rounded to 0.1. */
export function summary(/** @type {number[]} */ xs) {
    const a = xs.filter(Number.isFinite).sort((x, y) => x - y);
    const r = (/** @type {number} */ v) => Math.round(v * 10) / 10;
    return { n: a.length, p50: r(quantile(a, 0.5)), p95: r(quantile(a, 0.95)), max: r(a[a.length - 1] ?? NaN) };
}
