// @ts-check
/**
 * The two DOM helpers every dashboard panel uses: find an element of index.html by id, and
 * escape text that goes into HTML built as a string (stream ids, user agents, server
 * messages: anything that came over the network).
 */

/** The element with this id (index.html has them all). */
export const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** `s` as HTML text. */
export const esc = (/** @type {unknown} */ s) =>
    String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
