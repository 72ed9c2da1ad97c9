#!/usr/bin/env bash
# Server CPU with N WHIP publishers, Opus passthrough on vs off.
#
#   scripts/bench-whip-passthrough.sh [N] [SECONDS] [BIN]
#
# One `ondes serve` with N publish streams (48 kHz mono, 20 ms frames, one Opus rung of
# 64 kbit/s), one WebSocket listener per stream on that rung (a rung without listeners does
# not run), and N `ondes send --to …/whip` at 64 kbit/s. Two phases:
#   passthrough  the publishers send 20 ms packets: the rung carries them unchanged;
#   re-encode    the publishers send stereo packets (--channels 2) into the mono streams, at
#                the same bitrate and packet rate: every frame is decoded (to mono), then
#                encoded for the rung.
# Prints the server's CPU (user + system from /proc, ms per second) over the middle of each
# phase, and the rung's frames_passed_through / frames_encoded from /stats.
set -euo pipefail
N=${1:-10}
SECS=${2:-20}
BIN=${3:-target/debug/ondes}
DIR=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT
SECRET=bench-whip-secret
CFG=$DIR/ondes.toml
printf '[webrtc]\nudp_port = 0\nips = ["127.0.0.1"]\n' >"$CFG"
for i in $(seq 1 "$N"); do
  printf '[[stream]]\nid = "s%d"\nsource = "publish"\nsample_rate = 48000\nchannels = 1\nrungs = "64"\n' "$i" >>"$CFG"
done
TOKEN=$("$BIN" token --secret "$SECRET" --perm publish)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ONDES_AUTH_SECRET=$SECRET "$BIN" serve --bind "127.0.0.1:$port" --config "$CFG" >"$DIR/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/streams" >/dev/null && break; sleep 0.2; done
HZ=$(getconf CLK_TCK)
cpu() { awk -v hz="$HZ" '{print ($14 + $15) * 1000 / hz}' "/proc/$SERVER/stat"; }

phase() { # name, extra send args...
  local name=$1
  shift
  local pids=()
  for i in $(seq 1 "$N"); do
    "$BIN" listen "ws://127.0.0.1:$port/api/streams/s$i/ws?rung=64" --duration "$((SECS + 8))s" --json \
      >/dev/null 2>&1 &
    pids+=($!)
  done
  sleep 1
  for i in $(seq 1 "$N"); do
    "$BIN" send "tone:sine?freq=440&amp=0.5" --to "http://127.0.0.1:$port/api/streams/s$i/whip" \
      --token "$TOKEN" --bitrate 64 --duration "$((SECS + 6))s" --json "$@" >"$DIR/send-$name-$i.json" 2>&1 &
    pids+=($!)
  done
  sleep 4
  local before after s0 s1
  s0=$(curl -s "http://127.0.0.1:$port/api/streams/s1/stats")
  before=$(cpu)
  sleep "$SECS"
  after=$(cpu)
  s1=$(curl -s "http://127.0.0.1:$port/api/streams/s1/stats")
  wait "${pids[@]}" || true
  python3 - "$name" "$before" "$after" "$SECS" "$N" "$s0" "$s1" <<'EOF'
import json, sys
name, before, after, secs, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
r0, r1 = (json.loads(a)["ladder"]["rungs"][0] for a in sys.argv[6:8])
d = lambda k: r1[k] - r0[k]
print(f"{name:12} server CPU {(after - before) / secs:7.1f} ms/s with {n} publishers; over those "
      f"{secs:.0f} s s1's rung passed {d('frames_passed_through')} frames through, encoded {d('frames_encoded')}")
EOF
  sleep 6 # the rungs go idle, the publisher slots free
}

phase passthrough
phase re-encode --rate 48000 --channels 2 --frame-ms 20
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
