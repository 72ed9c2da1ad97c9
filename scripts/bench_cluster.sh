#!/usr/bin/env bash
# Origin → edge over NATS on loopback: one origin (a 48 kHz stereo tone, rungs 16/32/64/128),
# one edge with one SSE listener for SECS seconds; prints the origin → edge delay (capture
# timestamp to the edge's hub push, p50/p99), and NATS messages and bytes per second per stream.
# Usage: scripts/bench_cluster.sh [SECS] [BATCH_FRAMES] [PCM]   (needs nats-server, curl, jq)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
BATCH=${2:-3}
PCM=${3:-s16}
BIN=${ONDES_BIN:-target/release/ondes}
for tool in nats-server curl jq "$BIN"; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install nats-server curl jq; cargo build --release -p ondes)" >&2; exit 1; }
done
source scripts/cluster-lib.sh
ORIGIN=$(port); EDGE=$(port)
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
start_nats
node_config "$dir/origin.toml" "$ORIGIN" origin "batch_frames = $BATCH" "pcm = \"$PCM\"" \
    '[[stream]]' 'id = "radio"' 'source = "tone:demo"' 'rungs = "16,32,64,128"'
node_config "$dir/edge.toml" "$EDGE" edge
sleep 0.5
"$BIN" serve --config "$dir/origin.toml" >"$dir/origin.log" 2>&1 & pids+=($!)
"$BIN" serve --config "$dir/edge.toml" >"$dir/edge.log" 2>&1 & pids+=($!)
sleep 2
before=$(curl -s "http://127.0.0.1:$ORIGIN/api/cluster")
timeout "$SECS" curl -sN "http://127.0.0.1:$EDGE/api/streams/radio/stream?format=pcm16" >/dev/null || true
origin=$(curl -s "http://127.0.0.1:$ORIGIN/api/cluster")
edge=$(curl -s "http://127.0.0.1:$EDGE/api/cluster")
msgs=$(( $(jq .counters.messages_out <<<"$origin") - $(jq .counters.messages_out <<<"$before") ))
bytes=$(( $(jq .counters.bytes_out <<<"$origin") - $(jq .counters.bytes_out <<<"$before") ))
jq -n --argjson secs "$SECS" --argjson batch "$BATCH" --arg pcm "$PCM" --argjson msgs "$msgs" --argjson bytes "$bytes" \
    --argjson delay "$(jq '.delay[0]' <<<"$edge")" --argjson edge "$(jq .counters <<<"$edge")" \
    '{secs: $secs, batch_frames: $batch, pcm: $pcm,
      messages_per_s: ($msgs / $secs), bytes_per_s: ($bytes / $secs),
      delay_p50_ms: $delay.p50_ms, delay_p99_ms: $delay.p99_ms, frames: $delay.frames,
      edge_gaps: $edge.gaps, edge_messages_in: $edge.messages_in, load: "'"$(cut -d' ' -f1-3 /proc/loadavg)"'"}'
