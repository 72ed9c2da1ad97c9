#!/usr/bin/env python3
"""An independent WebRTC peer (aiortc) for the WHEP/WHIP tests.

  aiortc_peer.py whep URL --seconds S --freq F [--datachannel]
      Listens over WHEP for S seconds, fits a sine of F Hz to what it received and prints
      one JSON line: samples, rms, correlation with the fitted sine, notices seen on the
      data channel, the DELETE status.
  aiortc_peer.py whip URL --seconds S --freq F --token T [--record]
      Publishes a sine of F Hz over WHIP for S seconds (then DELETE), prints one JSON line;
      with --record, the line has every Opus packet aiortc's encoder made (base64, in order;
      aiortc encodes stereo at 96 kbit/s, 20 ms packets).

  --loss P puts a UDP relay between the peer and the server that drops a fraction P of the
  RTP packets (not STUN, DTLS or RTCP) on the media's way: server → peer for WHEP,
  peer → server for WHIP. The answer's candidate is rewritten to the relay's port.

Candidates are loopback only (127.0.0.1): the tests never send to another address of the
machine.
"""

import argparse
import base64
import asyncio
import fractions
import json
import math
import random
import re
import sys
import urllib.error
import urllib.request

import aioice.ice
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def is_rtp(data):
    """RTP (not RTCP, STUN or DTLS): version 2 and a payload type outside RTCP's 192..223."""
    return len(data) > 1 and 128 <= data[0] <= 191 and not 64 <= (data[1] & 0x7F) <= 95


class LossyRelay:
    """127.0.0.1 relay: peer ⇄ relay ⇄ server, dropping RTP one way."""

    def __init__(self, loss, drop_down):
        self.loss, self.drop_down, self.rng = loss, drop_down, random.Random(7)
        self.peer = self.server = None
        self.forwarded = self.dropped = 0

    async def start(self, server):
        loop = asyncio.get_event_loop()
        relay = self

        class Front(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                relay.peer = addr
                relay.forward(data, relay.back, relay.server, not relay.drop_down)

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                if relay.peer:
                    relay.forward(data, relay.front, relay.peer, relay.drop_down)

        self.server = server
        self.front, _ = await loop.create_datagram_endpoint(Front, local_addr=("127.0.0.1", 0))
        self.back, _ = await loop.create_datagram_endpoint(Back, local_addr=("127.0.0.1", 0))
        return self.front.get_extra_info("sockname")[1]

    def forward(self, data, transport, to, lossy):
        if lossy and is_rtp(data) and self.rng.random() < self.loss:
            self.dropped += 1
            return
        self.forwarded += 1
        transport.sendto(data, to)


RELAY = None


async def exchange(pc, url, token=None, loss=0.0, drop_down=True):
    offer = await pc.createOffer()
    await pc.setLocalDescription(offer)  # aiortc gathers every candidate here
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, h, body = await asyncio.to_thread(http, "POST", url, pc.localDescription.sdp.encode(), headers)
    if status != 201:
        print(json.dumps({"error": f"POST {status}", "body": body}))
        sys.exit(2)
    if loss > 0:
        global RELAY
        m = re.search(r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host", body)
        RELAY = LossyRelay(loss, drop_down)
        port = await RELAY.start(("127.0.0.1", int(m.group(1))))
        body = body.replace(f"127.0.0.1 {m.group(1)} typ host", f"127.0.0.1 {port} typ host")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    base = url.split("/api/")[0]
    return base + h.get("Location", h.get("location", ""))


def sine_fit(x, freq, rate):
    """Correlation of x with the best-fitting sine of freq (least squares on sin and cos)."""
    t = np.arange(len(x)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fit = basis @ coef
    if np.std(x) == 0 or np.std(fit) == 0:
        return 0.0
    return float(np.corrcoef(x, fit)[0, 1])


async def whep(args):
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="recvonly")
    notices = []
    if args.datachannel:
        ch = pc.createDataChannel("ondes")
        ch.on("message", lambda m: notices.append(m if isinstance(m, str) else m.decode()))
    got = asyncio.get_event_loop().create_future()
    pc.on("track", lambda track: got.done() or got.set_result(track))
    location = await exchange(pc, args.url, loss=args.loss, drop_down=True)
    track = await asyncio.wait_for(got, 10)
    chunks, rate = [], 48000
    loop = asyncio.get_event_loop()
    end = loop.time() + args.seconds
    while loop.time() < end:
        frame = await asyncio.wait_for(track.recv(), 5)
        rate = frame.sample_rate
        a = frame.to_ndarray()  # s16, packed: shape (1, samples * channels)
        ch = len(frame.layout.channels)
        chunks.append(a.reshape(-1, ch)[:, 0].astype(np.float64) / 32768.0)
    x = np.concatenate(chunks) if chunks else np.zeros(0)
    # skip the first half second (decoder start, jitter buffer settling)
    tail = x[rate // 2 :]
    result = {
        "samples": int(len(x)),
        "rate": rate,
        "rms": float(np.sqrt(np.mean(tail**2))) if len(tail) else 0.0,
        "correlation": sine_fit(tail[: rate * 2], args.freq, rate) if len(tail) else 0.0,
        "notices": notices,
        "location": location,
        "relay_dropped": RELAY.dropped if RELAY else 0,
        "relay_forwarded": RELAY.forwarded if RELAY else 0,
    }
    status, _, _ = await asyncio.to_thread(http, "DELETE", location)
    result["delete_status"] = status
    await pc.close()
    print(json.dumps(result))


class Sine(MediaStreamTrack):
    kind = "audio"

    def __init__(self, freq):
        super().__init__()
        self.freq, self.pts, self.rate, self.start = freq, 0, 48000, None

    async def recv(self):
        loop = asyncio.get_event_loop()
        if self.start is None:
            self.start = loop.time()
        due = self.start + self.pts / self.rate
        await asyncio.sleep(max(0, due - loop.time()))
        n = 960
        t = (np.arange(n) + self.pts) / self.rate
        s = (0.5 * np.sin(2 * math.pi * self.freq * t) * 32767).astype(np.int16)
        frame = AudioFrame.from_ndarray(s.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, self.rate)
        self.pts += n
        return frame


async def whip(args):
    recorded = []
    if args.record:
        from aiortc.codecs import opus

        encode = opus.OpusEncoder.encode

        def recording(self, frame, force_keyframe=False):
            payloads, ts = encode(self, frame, force_keyframe)
            recorded.extend(base64.b64encode(p).decode() for p in payloads)
            return payloads, ts

        opus.OpusEncoder.encode = recording
    pc = RTCPeerConnection()
    pc.addTransceiver(Sine(args.freq), direction="sendonly")
    location = await exchange(pc, args.url, args.token, loss=args.loss, drop_down=False)
    connected = asyncio.get_event_loop().create_future()

    @pc.on("connectionstatechange")
    def _():
        if pc.connectionState == "connected" and not connected.done():
            connected.set_result(True)

    await asyncio.wait_for(connected, 10)
    await asyncio.sleep(args.seconds)
    status, _, _ = await asyncio.to_thread(http, "DELETE", location, None, {"Authorization": f"Bearer {args.token}"})
    await pc.close()
    result = {"location": location, "delete_status": status, "relay_dropped": RELAY.dropped if RELAY else 0}
    if args.record:
        result["packets"] = recorded
    print(json.dumps(result))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["whep", "whip"])
    p.add_argument("url")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--freq", type=float, default=440.0)
    p.add_argument("--token")
    p.add_argument("--datachannel", action="store_true")
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--record", action="store_true")
    args = p.parse_args()
    asyncio.run(whep(args) if args.mode == "whep" else whip(args))


if __name__ == "__main__":
    main()
