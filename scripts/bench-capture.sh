#!/usr/bin/env bash
# Capture latency, side by side with other sources, in one run:
#   * capture callback → frame in the hub (the capture stream's own p50/p99, from its stats);
#   * source → SSE listener on loopback (`ondes probe`), for a capture stream, a tone and a
#     looped file served by the same server at the same time.
# The sound card is a private PulseAudio daemon's null sink (a paced virtual card) playing a
# tone into it; ondes reads its monitor through ALSA's `pulse` device.
#
# Needs: an ondes built with capture (cargo build --release -p ondes --features capture),
# pulseaudio, pulseaudio-utils, libasound2-plugins, sox (scripts/test.sh installs them).
# Usage: DURATION=20s [WARMUP=2] bash scripts/bench-capture.sh   (ONDES=target/debug/ondes for a dev build)
set -euo pipefail
cd "$(dirname "$0")/.."
ONDES=${ONDES:-target/release/ondes}
DURATION=${DURATION:-20s}
PORT=${PORT:-18471}
for tool in pulseaudio pactl paplay sox; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install pulseaudio pulseaudio-utils sox)" >&2; exit 1; }
done
[[ -x $ONDES ]] || { echo "error: $ONDES not found: cargo build --release -p ondes --features capture" >&2; exit 1; }

dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
export XDG_RUNTIME_DIR=$dir PULSE_RUNTIME_PATH=$dir/pulse PULSE_SERVER=unix:$dir/pulse/native PULSE_SOURCE=bench.monitor
mkdir -p "$dir/pulse"
cat > "$dir/default.pa" <<EOF
load-module module-null-sink sink_name=bench rate=48000 channels=2
load-module module-native-protocol-unix auth-anonymous=1
EOF
pulseaudio --daemonize=no --exit-idle-time=-1 --system=false -n --use-pid-file=false -F "$dir/default.pa" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
pactl info >/dev/null || { echo "error: pulseaudio did not start" >&2; exit 1; }
sox -n -r 48000 -c 2 -b 16 "$dir/signal.wav" synth 600 sine 440 sine 1000 vol 0.5
sox -n -r 48000 -c 2 -b 16 "$dir/file.wav" synth 10 sine 660 vol 0.5
paplay --device=bench "$dir/signal.wav" &
pids+=($!)
cat > "$dir/ondes.toml" <<EOF
[server]
bind = "127.0.0.1:$PORT"
[[stream]]
id = "capture"
source = "capture:pulse?channels=2&rate=48000&period_ms=10"
[[stream]]
id = "tone"
source = "tone:sine?freq=440&amp=0.5"
[[stream]]
id = "file"
source = "file:$dir/file.wav?loop=true"
EOF
RUST_LOG=warn "$ONDES" serve --config "$dir/ondes.toml" >"$dir/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/streams" >/dev/null && break; sleep 0.1; done
sleep "${WARMUP:-2}"   # WARMUP=30 measures the steady state, after PulseAudio has drained its start-up latency
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
probes=()
for s in capture tone file; do
    "$ONDES" probe --json --duration "$DURATION" "http://127.0.0.1:$PORT/api/streams/$s/stream" >"$dir/probe-$s.json" &
    probes+=($!)
done
for p in "${probes[@]}"; do wait "$p"; done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
curl -sf "http://127.0.0.1:$PORT/api/streams/capture/stats" >"$dir/capture-stats.json"
python3 - "$dir" "$load_before" "$load_after" "$DURATION" <<'EOF'
import json, sys
d, lb, la, dur = sys.argv[1:5]
cap = json.load(open(f"{d}/capture-stats.json"))["capture"]
rows = {}
for s in ("capture", "tone", "file"):
    p = json.load(open(f"{d}/probe-{s}.json"))
    lat = p.get("latency_ms") or {}
    rows[s] = {"p50_ms": lat.get("p50"), "p99_ms": lat.get("p99"), "max_ms": lat.get("max"), "loss_percent": p.get("loss_percent")}
    if s == "capture":
        # a captured frame is stamped with its first sample's time, a generated one when it
        # is released (its last sample): one frame later gives the like-for-like figure
        frame_ms = 1000.0 / p["frames_per_second"] if p.get("frames_per_second") else 20.0
        shift = lambda v: None if v is None else round(v - frame_ms, 3)
        rows["capture, from its last sample"] = {"p50_ms": shift(lat.get("p50")), "p99_ms": shift(lat.get("p99")),
            "max_ms": shift(lat.get("max")), "loss_percent": p.get("loss_percent")}
out = {
    "duration": dur,
    "load_before": lb, "load_after": la,
    "callback_to_hub_us": cap["callback_to_hub_us"],
    "capture_state": cap["state"], "capture_gaps": cap["gaps"], "drift_ppm": cap["drift_ppm"],
    "sse_latency": rows,
}
print(json.dumps(out))
print()
c = cap["callback_to_hub_us"]
print(f"capture callback → frame in hub: p50 {c['p50']} µs, p99 {c['p99']} µs, max {c['max']} µs over {c['count']} frames")
print(f"{'source → SSE listener':<32}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'loss %':>10}")
for s, r in rows.items():
    f = lambda v: "–" if v is None else f"{v:.1f}"
    print(f"{s:<32}{f(r['p50_ms']):>10}{f(r['p99_ms']):>10}{f(r['max_ms']):>10}{f(r['loss_percent']):>10}")
print(f"load average before → after: {lb} → {la}; capture gaps {cap['gaps']}, drift {cap['drift_ppm']:+.1f} ppm")
EOF
