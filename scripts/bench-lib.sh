# Shared by the single-machine benchmark scripts (sourced): a temp directory `work` removed
# at exit, a `pids` array of background processes killed at exit, and a wait for a server.

work=$(mktemp -d)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT

# wait_tcp PORT LOG NAME: waits up to 10 s for 127.0.0.1:PORT to accept; if it never does,
# prints LOG (the server's output) and exits.
wait_tcp() {
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$(basename "$0"): the $3 did not start:" >&2
  cat "$2" >&2
  exit 1
}
