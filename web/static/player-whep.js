// Listening over WebRTC (WHEP): one RTCPeerConnection per listener, receive-only audio,
// and a data channel for the stream's notices (paused, source-lost, quality, lagged — the
// same JSON status messages as the WebSocket player's). The browser's own jitter buffer and
// loss concealment (NetEQ) play the audio; no worklet is needed.

/** Resolves once ICE gathering is complete (the server takes no trickled candidates). */
function gatheringComplete(/** @type {RTCPeerConnection} */ pc, timeoutMs = 3000) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        pc.addEventListener('icegatheringstatechange', () => {
            if (pc.iceGatheringState === 'complete') {
                clearTimeout(t);
                resolve(undefined);
            }
        });
    });
}

/**
 * Starts a WHEP session on `url` (e.g. `/api/streams/main/whep?rung=auto`).
 * @param {string} url
 * @param {{token?: string, onNotice?: (msg: any) => void, play?: boolean}} [opts]
 * @returns {Promise<{pc: RTCPeerConnection, stream: MediaStream, audio: HTMLAudioElement, location: string, stop: () => Promise<void>}>}
 */
export async function startWhep(url, opts = {}) {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const channel = pc.createDataChannel('ondes');
    channel.onmessage = (e) => {
        try {
            opts.onNotice?.(JSON.parse(e.data));
        } catch {
            // the server sends JSON only
        }
    };
    const gotTrack = new Promise((resolve) => {
        pc.ontrack = (e) => resolve(e.streams[0] ?? new MediaStream([e.track]));
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    /** @type {Record<string, string>} */
    const headers = { 'Content-Type': 'application/sdp' };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const base = new URL(url, location.href);
    const r = await fetch(base, { method: 'POST', headers, body: pc.localDescription?.sdp ?? '' });
    if (r.status !== 201) {
        const e = await r.json().catch(() => ({}));
        pc.close();
        throw new Error(`WHEP ${r.status}: ${e.message ?? r.statusText}`);
    }
    const session = new URL(r.headers.get('Location') ?? '', base).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
    const stream = /** @type {MediaStream} */ (await gotTrack);
    // Chromium routes a remote track into Web Audio only while a media element plays it
    const audio = new Audio();
    audio.srcObject = stream;
    audio.muted = opts.play === false;
    await audio.play().catch(() => {});
    return {
        pc,
        stream,
        audio,
        location: session,
        async stop() {
            audio.srcObject = null;
            pc.close();
            await fetch(session, { method: 'DELETE', headers }).catch(() => {});
        },
    };
}
