# Shared by the cluster benchmarks (sourced): free loopback ports, a nats-server on one,
# and node configurations. The caller sets `dir` (a temp directory) and `pids` (an array the
# cleanup trap kills).

# A free loopback TCP port.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts a nats-server on a free port; sets NATS.
start_nats() {
    NATS=$(port)
    nats-server -a 127.0.0.1 -p "$NATS" >/dev/null 2>&1 &
    pids+=($!)
}

# node_config FILE PORT ROLE [LINE...]: a node of the cluster (node_id = ROLE) listening on
# PORT; each LINE is appended (more [cluster] keys, then streams).
node_config() {
    local file=$1 bind=$2 role=$3
    shift 3
    {
        printf '[server]\nbind = "127.0.0.1:%s"\n[cluster]\nnats_url = "nats://127.0.0.1:%s"\n' "$bind" "$NATS"
        printf 'role = "%s"\nnode_id = "%s"\n' "$role" "$role"
        printf '%s\n' "$@"
    } >"$file"
}
