// @ts-check
/**
 * What the dashboard's canvases share: the colours (channel A and B, grid, text) and sizing
 * the backing store to the element's CSS size × devicePixelRatio, so that lines are sharp on
 * any screen and nothing is drawn at a resolution no one sees.
 */

/** Channel A cyan, channel B amber: told apart by more than colour as well (lanes, dashes, labels). */
export const COLORS = Object.freeze({ a: '#39c5cf', b: '#f0b429', grid: '#1f2a36', axis: '#3a4654', text: '#9aa6b2', bg: '#0a0e14' });

/** Sizes a canvas's backing store to its CSS size × devicePixelRatio; true if changed. */
export function fitCanvas(/** @type {HTMLCanvasElement} */ c) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) {
        c.width = w;
        c.height = h;
        return true;
    }
    return false;
}
