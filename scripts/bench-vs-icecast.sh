#!/usr/bin/env bash
# Fan-out measured side by side: ondes against Icecast 2 (default burst, and burst 0) and the
# floor (`ondes bench floor`), on this machine, in one run, with the same load client.
#
#   bash scripts/bench-vs-icecast.sh                 # N = 100 1000 5000 10000
#   N_LIST="100 1000" DURATION=10s bash scripts/bench-vs-icecast.sh
#
# For each N: start ondes and Icecast on loopback with generated configs, push the same
# Ogg/Opus 64 kbit/s stream into each mount with ffmpeg (-re, Icecast protocol; one ffmpeg per
# mount, same deterministic signal and encoder settings, so the same bytes), then run
# `ondes bench fanout --transport http` against ondes's /live, Icecast's /live (default 64 KB
# burst), Icecast's /live0 (burst 0) and the floor, one after the other, and stop everything.
#
# The floor is the least a server can do: one non-blocking write of the same page per listener
# per page, from one writer thread per core, with the same Ogg/Opus 64 kbit/s stereo pages of
# PAGE_MS (made by ondes's own encoder and muxer, no source). Its CPU per listener-second is
# the kernel's cost of the fan-out; the table gives every server's as a multiple of it.
#
# Environment: N_LIST, DURATION (measured window, default 20s), PAGE_MS (Ogg page duration of
# the source and of ondes's egress, default 100), OUT (results directory, default
# target/bench-vs-icecast), ONDES (binary, default target/release/ondes, built if missing),
# FLOOR_THREADS (the floor's writer threads, default: one per core), ONDES_PORT, ICE_PORT,
# FLOOR_PORT.
# Writes $OUT/results.md (the side-by-side table), one JSON report per run and the floor's
# counters every 5 s ($OUT/N-floor.log).
set -euo pipefail

cd "$(dirname "$0")/.."
N_LIST=${N_LIST:-"100 1000 5000 10000"}
DURATION=${DURATION:-20s}
PAGE_MS=${PAGE_MS:-100}
OUT=${OUT:-target/bench-vs-icecast}
ONDES=${ONDES:-target/release/ondes}
PASSWORD=bench-source
ONDES_PORT=${ONDES_PORT:-28080}
ICE_PORT=${ICE_PORT:-28000}
FLOOR_PORT=${FLOOR_PORT:-28090}
FLOOR_THREADS=${FLOOR_THREADS:-$(nproc)}

say() { printf '\n== %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v icecast2 >/dev/null || missing+=(icecast2)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ ! -x $ONDES ]]; then
    say "building ondes (release)"
    cargo build --release -p ondes
fi

# --- limits: one socket per listener on each side, same process tree ---------------------
max_n=0
for n in $N_LIST; do ((n > max_n)) && max_n=$n; done
need=$((max_n + 1024)) # per process: the load client and each server hold N sockets
if (($(ulimit -Hn) < need)) && [[ $(id -u) -eq 0 ]]; then ulimit -Hn "$need"; fi
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < need)); then
    echo "the open-file limit is $(ulimit -n); $need are needed for N=$max_n (raise the hard limit)" >&2
    exit 1
fi

for port in "$ONDES_PORT" "$ICE_PORT" "$FLOOR_PORT"; do
    if [[ -n $(ss -Hltn "sport = :$port") ]]; then
        echo "port $port is in use; set ONDES_PORT / ICE_PORT / FLOOR_PORT" >&2
        exit 1
    fi
done

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ondes-vs-icecast.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() { # sources first, then the servers
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap 'cleanup; rm -rf "$WORK"' EXIT

# --- configs -----------------------------------------------------------------------------
cat >"$WORK/ondes.toml" <<EOF
[server]
bind = "127.0.0.1:$ONDES_PORT"
max_connections = $((max_n + 1000))

[icecast]
page_ms = $PAGE_MS

[[stream]]
id = "live"
source = "icecast"
source_password = "$PASSWORD"
sample_rate = 48000
channels = 2
rungs = "64"
EOF

ICE_USER=""
if [[ $(id -u) -eq 0 ]]; then
    # Icecast refuses to run as root; the Debian package's user owns its files
    ICE_USER=$(getent passwd icecast2 >/dev/null && echo icecast2 || echo nobody)
    ICE_GROUP=$(id -gn "$ICE_USER")
    CHANGEOWNER="<changeowner><user>$ICE_USER</user><group>$ICE_GROUP</group></changeowner>"
else
    CHANGEOWNER=""
fi
mkdir -p "$WORK/icelog"
[[ -n $ICE_USER ]] && chown "$ICE_USER" "$WORK/icelog"
cat >"$WORK/icecast.xml" <<EOF
<icecast>
  <location>loopback</location>
  <admin>bench@localhost</admin>
  <limits>
    <clients>$((max_n + 1000))</clients>
    <sources>4</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect>
    <burst-size>65535</burst-size>
  </limits>
  <authentication>
    <source-password>$PASSWORD</source-password>
    <relay-password>$PASSWORD</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>$PASSWORD</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>$ICE_PORT</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <mount type="normal"><mount-name>/live0</mount-name><burst-size>0</burst-size></mount>
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>$WORK/icelog</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>2</loglevel></logging>
  <security><chroot>0</chroot>$CHANGEOWNER</security>
</icecast>
EOF

source_to() { # url
    ffmpeg -hide_banner -nostdin -loglevel error -re \
        -f lavfi -i "sine=frequency=440:sample_rate=48000,aformat=channel_layouts=stereo" \
        -c:a libopus -b:a 64k -page_duration $((PAGE_MS * 1000)) -f ogg -content_type audio/ogg \
        -ice_name "bench" "$1" 2>>"$WORK/sources.log" &
    PIDS+=($!)
}

wait_http() { # url
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}

wait_listening() { # port (the floor answers every request with its endless stream)
    for _ in $(seq 100); do
        [[ -n $(ss -Hltn "sport = :$1") ]] && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

run_bench() { # name url n
    local name=$1 url=$2 n=$3 pid=$4
    local base load_before load_after
    base=$(rss_kb "$pid")
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    say "N=$n $name: $url (load average $load_before)"
    "$ONDES" bench fanout --url "$url" --transport http --listeners "$n" --duration "$DURATION" \
        --server-pid "$pid" --json >"$OUT/$n-$name.json" || true
    load_after=$(cut -d' ' -f1 /proc/loadavg)
    python3 - "$OUT/$n-$name.json" "$base" "$load_before" "$load_after" <<'PY'
import json, sys
path, base, before, after = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
try:
    r = json.load(open(path))
except Exception:
    sys.exit(0)
r["server_rss_baseline_kb"] = base
r["load_average_before"], r["load_average_after"] = before, after
json.dump(r, open(path, "w"))
PY
}

for n in $N_LIST; do
    say "N=$n: starting ondes and Icecast"
    RUST_LOG=warn "$ONDES" serve --config "$WORK/ondes.toml" >"$WORK/ondes.log" 2>&1 &
    ONDES_PID=$!
    PIDS+=("$ONDES_PID")
    icecast2 -c "$WORK/icecast.xml" >"$WORK/icecast.out" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$ONDES_PORT/status-json.xsl" || { cat "$WORK/ondes.log" >&2; exit 1; }
    wait_http "http://127.0.0.1:$ICE_PORT/status-json.xsl" || { cat "$WORK/icecast.out" "$WORK"/icelog/* >&2; exit 1; }
    ICE_PID=$(ss -Hltnp "sport = :$ICE_PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
    "$ONDES" bench floor --listen "127.0.0.1:$FLOOR_PORT" --page-ms "$PAGE_MS" --threads "$FLOOR_THREADS" \
        --report-secs 5 >"$OUT/$n-floor.log" 2>&1 &
    FLOOR_PID=$!
    PIDS+=("$FLOOR_PID")
    wait_listening "$FLOOR_PORT" || { cat "$OUT/$n-floor.log" >&2; exit 1; }
    source_to "icecast://source:$PASSWORD@127.0.0.1:$ONDES_PORT/live"
    source_to "icecast://source:$PASSWORD@127.0.0.1:$ICE_PORT/live"
    source_to "icecast://source:$PASSWORD@127.0.0.1:$ICE_PORT/live0"
    sleep 4 # sources connected, Icecast's burst buffer filled
    run_bench ondes "http://127.0.0.1:$ONDES_PORT/live" "$n" "$ONDES_PID"
    run_bench icecast "http://127.0.0.1:$ICE_PORT/live" "$n" "$ICE_PID"
    run_bench icecast-burst0 "http://127.0.0.1:$ICE_PORT/live0" "$n" "$ICE_PID"
    run_bench floor "http://127.0.0.1:$FLOOR_PORT/live" "$n" "$FLOOR_PID"
    cleanup
    sleep 1
done

python3 scripts/fanout-table.py "$OUT" "$N_LIST" "$DURATION" "$PAGE_MS" >"$OUT/results.md"
cat "$OUT/results.md"
