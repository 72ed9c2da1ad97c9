"""The side-by-side table of scripts/bench-vs-icecast.sh, from its JSON reports.

    python3 scripts/fanout-table.py OUT "N1 N2 ..." DURATION PAGE_MS > OUT/results.md

Reads OUT/N-SERVER.json (one `ondes bench fanout --json` report per run, with the script's
RSS baseline and load averages added) and prints one Markdown row per N and server, with
each server's CPU per listener-second as a multiple of the floor's at the same N.
"""
import json, os, sys
out, ns, duration, page_ms = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4]
SERVERS = ["ondes", "icecast", "icecast-burst0", "floor"]
def f(v, d=0):
    return "-" if v is None else f"{v:,.{d}f}"
def load(n, name):
    p = os.path.join(out, f"{n}-{name}.json")
    if not os.path.exists(p) or os.path.getsize(p) == 0:
        return None
    return json.load(open(p))
print(f"Fan-out over HTTP (Ogg/Opus 64 kbit/s, {page_ms} ms pages), {duration} window per run. "
      "× floor: the server's CPU per listener-second over the floor's, same N and page size. "
      "Audio delivered: audio received in the window over real time × listeners (below 100 %: "
      "the server fell behind). Load: the machine's 1-minute load average before → after the run.\n")
print("| N | server | connected / alive | audio delivered | gaps | stalls > 500 ms | server CPU µs per listener-s | × floor | RSS KB per listener | first byte p50 / p99 ms | behind live at start p50 / p99 ms | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for n in ns:
    floor = load(n, "floor")
    floor_cpu = floor and floor.get("server_cpu_us_per_listener_second")
    for name in SERVERS:
        r = load(n, name)
        if r is None:
            print(f"| {int(n):,} | {name} | run failed | | | | | | | | | |")
            continue
        rss = r.get("server_rss_kb")
        per = None if rss is None else (rss - r.get("server_rss_baseline_kb", 0)) / max(r["listeners_connected"], 1)
        cpu = r.get("server_cpu_us_per_listener_second")
        ratio = None if cpu is None or not floor_cpu else cpu / floor_cpu
        delivered = 100 * r["frames_received"] / r["frames_expected"] if r.get("frames_expected") else None
        t, s = r["time_to_first_byte_ms"], r["start_behind_live_ms"]
        print(f"| {int(n):,} | {name} | {r['listeners_connected']:,} / {r['listeners_alive']:,} | {f(delivered, 1)} % | {r['gaps']:,} | {r['stalls']:,} "
              f"| {f(cpu, 1)} | {f(ratio, 2)} | {f(per, 1)} "
              f"| {f(t['p50'], 1)} / {f(t['p99'], 1)} | {f(s['p50'])} / {f(s['p99'])} "
              f"| {f(r.get('load_average_before'), 1)} → {f(r.get('load_average_after'), 1)} |")
