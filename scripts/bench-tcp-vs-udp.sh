#!/usr/bin/env bash
# The same link, once over TCP and once over UDP: one `ondes serve --demo` (WebRTC on a fixed
# port), `ondes netsim` with a link profile in front of it — a TCP proxy for a WebSocket
# listener, a UDP proxy (`--udp`) for a WHEP listener — and `ondes listen` through each for
# the same time, one after the other, per link. Both listeners are the Rust client with the
# same jitter buffer; the WebSocket one follows the server's jitter advice for its profile,
# the WHEP one conceals what UDP loses (RED, Opus FEC) instead of waiting for it.
#
#   ONDES=target/release/ondes bash scripts/bench-tcp-vs-udp.sh [SECONDS] [PROFILE] [LINKS...]
#
# Defaults: 60 s per listener, the `conversation` profile for the WebSocket listener, links
# wifi fiber 3g (any `ondes netsim --profile`, e.g. drop: 20 s wifi, 20 s at 64 kbit/s, wifi). Prints one JSON line per run (`ondes listen --json` plus `link`, `transport`
# and the load average) and a table at the end.
set -euo pipefail

ONDES=${ONDES:-target/release/ondes}
SECS=${1:-60}
PROFILE=${2:-conversation}
shift $(( $# < 2 ? $# : 2 ))
LINKS=("$@")
[ ${#LINKS[@]} -gt 0 ] || LINKS=(wifi fiber 3g)
HTTP_PORT=${HTTP_PORT:-18911}
RTC_PORT=${RTC_PORT:-18912}
TCP_PROXY=${TCP_PROXY:-18913}
UDP_PROXY=${UDP_PROXY:-18914}
SEED=${SEED:-1}

[ -x "$ONDES" ] || { echo "bench-tcp-vs-udp.sh: no ondes binary at $ONDES (cargo build --release -p ondes)" >&2; exit 1; }

# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

cat > "$work/server.toml" <<EOF
[server]
bind = "127.0.0.1:$HTTP_PORT"
[webrtc]
udp_port = $RTC_PORT
ips = ["127.0.0.1"]
EOF
"$ONDES" serve --demo --config "$work/server.toml" --log warn > "$work/server.log" 2>&1 &
pids+=($!)
wait_tcp "$HTTP_PORT" "$work/server.log" server

out="$work/runs.jsonl"
for link in "${LINKS[@]}"; do
  for transport in ws whep; do
    if [ "$transport" = ws ]; then
      "$ONDES" netsim --profile "$link" --seed "$SEED" --listen "127.0.0.1:$TCP_PROXY" \
        --upstream "127.0.0.1:$HTTP_PORT" > "$work/netsim.log" 2>&1 &
      proxy=$!
      sleep 0.5
      listen=("$ONDES" listen "ws://127.0.0.1:$TCP_PROXY/api/streams/main/ws?rung=auto&profile=$PROFILE")
    else
      "$ONDES" netsim --udp --profile "$link" --seed "$SEED" --listen "127.0.0.1:$UDP_PROXY" \
        --upstream "127.0.0.1:$RTC_PORT" > "$work/netsim.log" 2>&1 &
      proxy=$!
      sleep 0.5
      listen=("$ONDES" listen "http://127.0.0.1:$HTTP_PORT/api/streams/main/whep" --via "127.0.0.1:$UDP_PROXY")
    fi
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    line=$("${listen[@]}" --duration "${SECS}s" --json | tail -1) || {
      echo "bench-tcp-vs-udp.sh: $transport over $link failed; netsim said:" >&2; cat "$work/netsim.log" >&2; exit 1; }
    load_after=$(cut -d' ' -f1 /proc/loadavg)
    kill "$proxy" 2>/dev/null || true
    wait "$proxy" 2>/dev/null || true
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(link=sys.argv[2], transport=sys.argv[3], load_average=[float(sys.argv[4]), float(sys.argv[5])]); print(json.dumps(d))' \
      "$line" "$link" "$transport" "$load_before" "$load_after" | tee -a "$out"
  done
done

python3 - "$out" <<'PYEOF'
import json, re, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def changes(d):
    """The server's rung changes (not its jitter-floor notices), as `time: from → to (code)`."""
    out = []
    for n in d['server_notices']:
        m = re.match(r'([\d.]+ s): rung (\S*) → (\S+) \((\w+)', n)
        if m and m.group(2) != m.group(3):
            out.append(f"{m.group(1)} {m.group(2) or 'start'} → {m.group(3)} ({m.group(4)})")
    return out
print()
print("| link | transport | latency p50 / p90 / p99 (ms) | underruns (stalled ms) | frames lost / received | rebuilt (FEC / RED) | concealed ms | buffer target at the end (ms) | rung changes (final rung) | load |")
print("|---|---|---|---|---|---|---|---|---|---|")
for d in runs:
    l = d['latency_ms']
    t = 'WebSocket (TCP)' if d['transport'] == 'ws' else 'WHEP (UDP)'
    print(f"| {d['link']} | {t} | {l['p50']} / {l['p90']} / {l['p99']} | {d['underruns']} ({d['underrun_ms']:.0f}) | "
          f"{d['frames_lost']} / {d['frames_received']} | {d['fec_recovered']} / {d['red_recovered']} | {d['concealed_ms']:.0f} | "
          f"{d['buffer_target_ms']['final']:.0f} | {len(changes(d))} ({d['rung']}) | {d['load_average'][0]}–{d['load_average'][1]} |")
for d in runs:
    if changes(d):
        print(f"\n{d['link']}, {d['transport']}: " + "; ".join(changes(d)))
PYEOF
