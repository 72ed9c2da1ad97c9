#!/usr/bin/env python3
"""Failover between cluster edges, measured: a real nats-server, one origin (48 kHz stereo
tone, 20 ms frames) and two edges on loopback. An SSE listener plays from one edge; the edge
is killed (SIGKILL, no goodbye); the listener reconnects at once to the other edge with
`Last-Event-ID` and the script measures the time from the kill to the first audio frame from
the other edge, and the frames lost (from the `resumed`/`gap` status and the frame numbers).
The killed edge is restarted and the next round kills the other one.

Usage: scripts/bench_failover.py [--rounds N] [--bin target/release/ondes] [--json]
Needs nats-server (apt-get install nats-server) and a built ondes.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, timeout=15.0):
    until = time.time() + timeout
    while time.time() < until:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"error: nothing answers {path} on port {port}")


class Sse:
    """A minimal SSE reader over one HTTP/1.1 connection."""

    def __init__(self, port, stream, last_seen=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        headers = {"Accept": "text/event-stream"}
        if last_seen is not None:
            headers["Last-Event-ID"] = f"frame-{last_seen}"
        self.conn.request("GET", f"/api/streams/{stream}/stream?format=lightweight", headers=headers)
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise OSError(f"HTTP {self.resp.status}")

    def events(self):
        """Yields (event, data) until the connection ends."""
        event, data = None, []
        while True:
            line = self.resp.fp.readline()
            if not line:
                return
            line = line.decode().rstrip("\r\n")
            if not line:
                if data:
                    yield event, "\n".join(data)
                event, data = None, []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())


def node_config(d, name, nats, port, role):
    path = os.path.join(d, f"{name}.toml")
    stream = '[[stream]]\nid = "radio"\nsource = "tone:demo"\nrungs = "16,32,64,128"\n' if role == "origin" else ""
    with open(path, "w") as f:
        f.write(f'[server]\nbind = "127.0.0.1:{port}"\n[cluster]\nnats_url = "nats://127.0.0.1:{nats}"\n'
                f'role = "{role}"\nnode_id = "{name}"\nlinger_ms = 2000\n{stream}')
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bin", default=os.environ.get("ONDES_BIN", "target/release/ondes"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not shutil.which("nats-server"):
        raise SystemExit("error: nats-server is missing (apt-get install nats-server)")
    if not os.path.exists(a.bin):
        raise SystemExit(f"error: {a.bin} does not exist (cargo build --release -p ondes)")
    d = tempfile.mkdtemp(prefix="ondes-failover-")
    procs = []

    def start(args, log):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, log), "w"))
        procs.append(p)
        return p

    try:
        nats = free_port()
        start(["nats-server", "-a", "127.0.0.1", "-p", str(nats)], "nats.log")
        time.sleep(0.3)
        origin_port = free_port()
        start([a.bin, "serve", "-c", node_config(d, "origin", nats, origin_port, "origin"), "--log", "warn"], "origin.log")
        wait_http(origin_port, "/api/cluster")
        ports = {"edge-a": free_port(), "edge-b": free_port()}
        edges = {}
        for name, port in ports.items():
            edges[name] = start([a.bin, "serve", "-c", node_config(d, name, nats, port, "edge"), "--log", "warn"], f"{name}.log")
            wait_http(port, "/api/cluster")
        time.sleep(1.0)
        load_before = open("/proc/loadavg").read().split()[:3]
        rounds = []
        current, other = "edge-a", "edge-b"
        for r in range(a.rounds):
            sse = Sse(ports[current], "radio")
            frames = []
            ev = sse.events()
            start_listen = time.time()
            for event, data in ev:
                if event == "audio-frame":
                    frames.append(json.loads(data)["frame_number"])
                if time.time() - start_listen > 3.0:
                    break
            # kill the edge in the middle of the stream, then drain what the socket still holds
            killed_at = time.time()
            edges[current].send_signal(signal.SIGKILL)
            edges[current].wait()
            for event, data in ev:
                if event == "audio-frame":
                    frames.append(json.loads(data)["frame_number"])
            last = frames[-1]
            resume = Sse(ports[other], "radio", last_seen=last)
            first_audio = None
            status = None
            after = []
            for event, data in resume.events():
                if event == "status" and status is None:
                    status = json.loads(data)
                if event == "audio-frame":
                    after.append(json.loads(data)["frame_number"])
                    if first_audio is None:
                        first_audio = time.time()
                    if len(after) >= 25:
                        break
            resume.conn.close()
            sse.conn.close()
            jump = after[0] - last - 1
            missed = (status or {}).get("missed_frames", 0) or 0
            rounds.append({
                "round": r + 1, "killed": current, "resumed_on": other,
                "kill_to_audio_ms": round((first_audio - killed_at) * 1000, 1),
                "status": (status or {}).get("status"), "missed_frames": missed,
                "numbering_jump": jump, "contiguous_after": all(b == a_ + 1 for a_, b in zip(after, after[1:])),
            })
            # bring the killed edge back for the next round
            edges[current] = start([a.bin, "serve", "-c", os.path.join(d, f"{current}.toml"), "--log", "warn"], f"{current}-{r}.log")
            wait_http(ports[current], "/api/cluster")
            time.sleep(0.5)
            current, other = other, current
        out = {
            "rounds": rounds,
            "kill_to_audio_ms_max": max(x["kill_to_audio_ms"] for x in rounds),
            "frames_lost_total": sum(max(x["missed_frames"], x["numbering_jump"]) for x in rounds),
            "load_average_before": load_before,
            "load_average_after": open("/proc/loadavg").read().split()[:3],
            "binary": a.bin,
        }
        if a.json:
            print(json.dumps(out))
        else:
            print(f"{'round':>5} {'killed':>7} {'resumed on':>10} {'kill→audio':>11} {'status':>8} {'lost':>5}")
            for x in rounds:
                lost = max(x["missed_frames"], x["numbering_jump"])
                print(f"{x['round']:>5} {x['killed']:>7} {x['resumed_on']:>10} {x['kill_to_audio_ms']:>8.1f} ms {x['status'] or '-':>8} {lost:>5}")
            print(f"worst kill→audio {out['kill_to_audio_ms_max']} ms, frames lost {out['frames_lost_total']}, "
                  f"load {' '.join(out['load_average_before'])} → {' '.join(out['load_average_after'])}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
