#!/usr/bin/env bash
# What an edge costs per listener, beside a standalone server at the same load: a real
# nats-server, one origin (the demo tone, 48 kHz stereo, rungs 16/32/64/128), one edge, and a
# standalone `ondes serve` with the same stream. `ondes bench fanout` puts LISTENERS WebSocket
# listeners (rung 64, batch 1) on the edge, then on the standalone server, ROUNDS times in
# alternation, and each run samples the server under test's CPU (/proc). Prints one JSON line
# per run, then the edge ÷ standalone ratio of CPU µs per listener-second.
# Usage: scripts/bench_edge_cpu.sh [LISTENERS] [SECS] [ROUNDS]   (needs nats-server, curl, jq)
set -euo pipefail
cd "$(dirname "$0")/.."
LISTENERS=${1:-200}
SECS=${2:-20}
ROUNDS=${3:-2}
BIN=${ONDES_BIN:-target/release/ondes}
for tool in nats-server curl jq "$BIN"; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install nats-server curl jq; cargo build --release -p ondes)" >&2; exit 1; }
done
source scripts/cluster-lib.sh
ORIGIN=$(port); EDGE=$(port); SOLO=$(port)
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
start_nats
stream=('[[stream]]' 'id = "radio"' 'source = "tone:demo"' 'rungs = "16,32,64,128"')
node_config "$dir/origin.toml" "$ORIGIN" origin "${stream[@]}"
node_config "$dir/edge.toml" "$EDGE" edge
printf '[server]\nbind = "127.0.0.1:%s"\n' "$SOLO" >"$dir/solo.toml"
printf '%s\n' "${stream[@]}" >>"$dir/solo.toml"
sleep 0.5
"$BIN" serve --config "$dir/origin.toml" --log warn >"$dir/origin.log" 2>&1 & pids+=($!)
"$BIN" serve --config "$dir/edge.toml" --log warn >"$dir/edge.log" 2>&1 & pids+=($!)
"$BIN" serve --config "$dir/solo.toml" --log warn >"$dir/solo.log" 2>&1 & pids+=($!)
sleep 2
# the edge takes the stream on its first listener and keeps it while listeners come and go
curl -sf "http://127.0.0.1:$EDGE/api/streams/radio/stats" >/dev/null || sleep 2
results=()
for round in $(seq 1 "$ROUNDS"); do
    for which in edge solo; do
        p=$EDGE; [ "$which" = solo ] && p=$SOLO
        out=$("$BIN" bench fanout --url "ws://127.0.0.1:$p/api/streams/radio/ws" --transport ws --rung 64 --batch 1 \
            --listeners "$LISTENERS" --duration "${SECS}s" --json 2>/dev/null)
        line=$(jq -c --arg which "$which" --argjson round "$round" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
            '{server: $which, round: $round, alive: .listeners_alive, frames_received, frames_expected, gaps,
              latency_p50_ms: .latency_ms.p50, latency_p99_ms: .latency_ms.p99,
              server_cpu_percent, server_cpu_us_per_listener_second, server_rss_kb, load: $load}' <<<"$out")
        echo "$line"
        results+=("$line")
    done
done
printf '%s\n' "${results[@]}" | jq -s -c '
    (map(select(.server == "edge")) | map(.server_cpu_us_per_listener_second) | add / length) as $e |
    (map(select(.server == "solo")) | map(.server_cpu_us_per_listener_second) | add / length) as $s |
    {edge_us_per_listener_second: $e, standalone_us_per_listener_second: $s, edge_over_standalone: ($e / $s)}'
