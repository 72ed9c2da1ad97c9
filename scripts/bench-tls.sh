#!/usr/bin/env bash
# What TLS costs the server, per transport: the same fan-out against two `ondes serve`
# processes of one build, one plain and one serving TLS (an ECDSA P-256 certificate for
# localhost from a private CA made here with openssl), alternating plain and TLS.
#
#   ONDES=target/release/ondes bash scripts/bench-tls.sh [LISTENERS] [SECONDS] [ROUNDS] [TRANSPORTS...]
#
# Defaults: 500 listeners, 20 s, 2 rounds, transports sse ws http hls. Prints one JSON line
# per run (`ondes bench fanout --json` with `transport`, `tls` and the load average added)
# and a table at the end.
set -euo pipefail

ONDES=${ONDES:-target/release/ondes}
N=${1:-500}
SECS=${2:-20}
ROUNDS=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
TRANSPORTS=("$@")
[ ${#TRANSPORTS[@]} -gt 0 ] || TRANSPORTS=(sse ws http hls)
PLAIN_PORT=${PLAIN_PORT:-18801}
TLS_PORT=${TLS_PORT:-18802}

command -v openssl >/dev/null || { echo "bench-tls.sh: openssl is needed (apt-get install openssl)" >&2; exit 1; }
[ -x "$ONDES" ] || { echo "bench-tls.sh: no ondes binary at $ONDES (cargo build --release -p ondes)" >&2; exit 1; }

# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

# a private CA and a certificate for localhost signed by it
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=ondes bench CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$work/key.pem" -out "$work/cert.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' > "$work/ext.cnf"
openssl x509 -req -in "$work/cert.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null

cat > "$work/plain.toml" <<EOF
[server]
bind = "127.0.0.1:$PLAIN_PORT"
EOF
cat > "$work/tls.toml" <<EOF
[server]
bind = "127.0.0.1:$TLS_PORT"
tls_cert = "$work/cert.pem"
tls_key = "$work/key.pem"
EOF

ulimit -n 65536 2>/dev/null || true
"$ONDES" serve --demo --config "$work/plain.toml" --log warn > "$work/plain.log" 2>&1 &
pids+=($!)
"$ONDES" serve --demo --config "$work/tls.toml" --log warn > "$work/tls.log" 2>&1 &
pids+=($!)
wait_tcp "$PLAIN_PORT" "$work/plain.log" "plain server"
wait_tcp "$TLS_PORT" "$work/tls.log" "TLS server"

url_for() { # transport tls
  local scheme=http host=127.0.0.1 port=$PLAIN_PORT
  if [ "$2" = 1 ]; then host=localhost; port=$TLS_PORT; scheme=https; fi
  case $1 in
    ws) [ "$2" = 1 ] && scheme=wss || scheme=ws
        echo "$scheme://$host:$port/api/streams/main/ws?rung=64&batch=1" ;;
    http) echo "$scheme://$host:$port/main.ogg" ;;
    hls) echo "$scheme://$host:$port/api/streams/main/hls/index.m3u8" ;;
    *) echo "$scheme://$host:$port/api/audio/stream" ;;
  esac
}

out="$work/runs.jsonl"
for t in "${TRANSPORTS[@]}"; do
  for r in $(seq 1 "$ROUNDS"); do
    for tls in 0 1; do
      load_before=$(cut -d' ' -f1 /proc/loadavg)
      extra=()
      [ "$tls" = 1 ] && extra=(--ca "$work/ca.pem")
      line=$("$ONDES" bench fanout --url "$(url_for "$t" "$tls")" --transport "$t" --listeners "$N" \
        --duration "${SECS}s" --json "${extra[@]}" | tail -1)
      load_after=$(cut -d' ' -f1 /proc/loadavg)
      python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(transport=sys.argv[2], tls=sys.argv[3]=="1", round=int(sys.argv[4]), load_average=[float(sys.argv[5]), float(sys.argv[6])]); print(json.dumps(d))' \
        "$line" "$t" "$tls" "$r" "$load_before" "$load_after" | tee -a "$out"
    done
  done
done

python3 - "$out" <<'EOF'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def g(d, *ks):
    for k in ks:
        if not isinstance(d, dict) or k not in d: return None
        d = d[k]
    return d
print()
print("| transport | run | alive | gaps | missed parts | latency p50 / p99 (ms) | server CPU | µs per listener-second | server RSS | bench client CPU | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for d in runs:
    parts = d['parts_missed'] if d['transport'] == 'hls' else '—'
    print(f"| {d['transport']} | {'TLS' if d['tls'] else 'plain'} {d['round']} | {d['listeners_alive']} / {d['listeners_requested']} | {d['gaps']} | {parts} | "
          f"{g(d,'latency_ms','p50')} / {g(d,'latency_ms','p99')} | {d['server_cpu_percent']:.1f} % | {d['server_cpu_us_per_listener_second']:.0f} | "
          f"{d['server_rss_kb'] // 1024} MB | {d['client_cpu_percent']:.1f} % | {d['load_average'][0]}–{d['load_average'][1]} |")
print()
for t in dict.fromkeys(d['transport'] for d in runs):
    rs = [d for d in runs if d['transport'] == t]
    for r in sorted(set(d['round'] for d in rs)):
        pair = {d['tls']: d for d in rs if d['round'] == r}
        if True in pair and False in pair:
            ratio = pair[True]['server_cpu_us_per_listener_second'] / max(pair[False]['server_cpu_us_per_listener_second'], 1e-9)
            print(f"{t} round {r}: TLS / plain server CPU per listener = {ratio:.2f}x")
EOF
