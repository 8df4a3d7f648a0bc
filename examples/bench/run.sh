#!/usr/bin/env bash
# The fan-out benchmark of issue 7: this library (bench-server over axum, warp and hyper)
# against axum's own Sse + tokio broadcast (bench-baseline), in one run, on loopback.
#
#   examples/bench/run.sh                 # the full matrix (about 8 minutes)
#   DURATION=3 CLIENTS="1000" RATES="10" examples/bench/run.sh   # a quick subset
#
# Each point: a fresh server pinned to CPU 0 (`taskset -c 0`), the load generator pinned
# to CPU 1, N clients connected, then DURATION seconds measured (see loadgen.rs).
# Idle memory: a fresh server with RATE=0, IDLE_CLIENTS streams connected, RSS per
# connection = (RSS with them - RSS before) / IDLE_CLIENTS.
# RUNS=N repeats the whole matrix N times; the tables then give each figure's median
# over the runs (machine noise is about 10% from run to run), and ratios are of medians.
# Server names: ours-ADAPTER (axum, warp, hyper), ours-ADAPTER-stock (axum::serve or
# warp::serve instead of the library's server), ours-ADAPTER-hyperwrites (the library's
# server with lean_streams(false): hyper writes the streams), ours-ADAPTER-delayMS (a write delay of
# MS milliseconds), baseline.
# With `perf` on PATH (and allowed to sample the server), the user-CPU column is the
# share of clock samples in user space over the window (see loadgen.rs for why not
# the kernel's utime/stime split); PERF=0 turns it off.
# JSON lines go to $OUT (default target/bench/fanout.jsonl); a Markdown table to stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${CARGO_TARGET_DIR:=target}"
export CARGO_TARGET_DIR
DURATION=${DURATION:-8}
CLIENTS=${CLIENTS:-"1000 10000"}
RATES=${RATES:-"10 100"}
SIZE=${SIZE:-64}
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
SERVERS=${SERVERS:-"ours-axum ours-warp ours-hyper baseline"}
RUNS=${RUNS:-1}
OUT=${OUT:-$CARGO_TARGET_DIR/bench/fanout.jsonl}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}

cargo build --release -q -p examples --bin bench-server --bin bench-baseline --bin loadgen
BIN=$CARGO_TARGET_DIR/release
mkdir -p "$(dirname "$OUT")"
: >"$OUT"

# taskset when there is more than one CPU to pin to. An array, not a function, so that
# `$!` is the server's own pid (taskset execs it).
# PAGE_FIRST=1: each client reads a page on its connection before asking for the
# stream on the same one (loadgen --page-first).
CLIENT_FLAGS=()
if [ "${PAGE_FIRST:-0}" = 1 ]; then CLIENT_FLAGS=(--page-first); fi
# H2_STREAMS=M: the clients speak HTTP/2 with prior knowledge, M streams per connection.
if [ "${H2_STREAMS:-0}" != 0 ]; then CLIENT_FLAGS+=(--h2-streams "$H2_STREAMS"); fi
PERF_FLAG=()
if [ "${PERF:-1}" != 0 ] && command -v perf >/dev/null && perf record -q -e cpu-clock -o /dev/null -- true 2>/dev/null; then
    PERF_FLAG=(--perf)
fi

SRV_PIN=() GEN_PIN=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ]; then
    SRV_PIN=(taskset -c "$SERVER_CPU") GEN_PIN=(taskset -c "$LOADGEN_CPU")
fi

SRV_PID=
start_server() { # start_server NAME RATE -> sets SRV_PID, PORT
    local name=$1 rate=$2 bin adapter log
    local delay=0 serve=
    case $name in
        ours-*-delay*) bin=bench-server adapter=${name#ours-} delay=${adapter#*-delay} adapter=${adapter%%-*} ;;
        ours-*-stock) bin=bench-server adapter=${name#ours-} adapter=${adapter%-stock} serve=stock ;;
        ours-*-hyperwrites) bin=bench-server adapter=${name#ours-} adapter=${adapter%-hyperwrites} serve=hyper-writes ;;
        ours-*) bin=bench-server adapter=${name#ours-} ;;
        baseline) bin=bench-baseline adapter= ;;
        *) echo "unknown server $name" >&2; exit 2 ;;
    esac
    log=$(mktemp)
    WRITE_DELAY_MS=$delay SERVE=$serve ADAPTER=$adapter RATE=$rate SIZE=$SIZE PORT=0 "${SRV_PIN[@]}" "$BIN/$bin" >"$log" 2>&1 &
    SRV_PID=$!
    for _ in $(seq 100); do
        grep -q '^listening on ' "$log" && break
        sleep 0.05
    done
    PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
    rm -f "$log"
    [ -n "$PORT" ] || { echo "$name did not start" >&2; exit 1; }
}

stop_server() {
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    sleep 1 # let the sockets close
}

for _ in $(seq "$RUNS"); do
    for clients in $CLIENTS; do
        for rate in $RATES; do
            for server in $SERVERS; do
                start_server "$server" "$rate"
                "${GEN_PIN[@]}" "$BIN/loadgen" --port "$PORT" --clients "$clients" \
                    --rate "$rate" --duration "$DURATION" --pid "$SRV_PID" --label "$server" "${PERF_FLAG[@]}" "${CLIENT_FLAGS[@]}" |
                    tee -a "$OUT"
                stop_server
            done
        done
    done
    for server in $SERVERS; do
        start_server "$server" 0
        "${GEN_PIN[@]}" "$BIN/loadgen" --port "$PORT" --clients "$IDLE_CLIENTS" --idle \
            --duration 2 --pid "$SRV_PID" --label "$server-idle" "${CLIENT_FLAGS[@]}" | tee -a "$OUT"
        stop_server
    done
done

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]

def median_rows(rows, key):
    """One row per key, each number the median over the runs; `runs` counts them."""
    groups = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    out = []
    for group in groups.values():
        m = dict(group[0])
        for k, v in group[0].items():
            if isinstance(v, (int, float)) and k not in ("clients", "rate", "duration_s"):
                vals = [g[k] for g in group if g.get(k) is not None]
                m[k] = statistics.median(vals) if vals else None
        m["runs"] = len(group)
        out.append(m)
    return out

live = median_rows([r for r in rows if not r["label"].endswith("-idle")],
                   lambda r: (r["label"], r["clients"], r["rate"]))
idle = median_rows([r for r in rows if r["label"].endswith("-idle")], lambda r: r["label"])
f = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"
def user_share(r):
    if r.get("user_share") is not None:
        return f"{100 * r['user_share']:.1f}%"
    return "-" if not r.get("cpu_s") else f"{100 * r['cpu_user_s'] / r['cpu_s']:.1f}% (ticks)"
print("| server | clients | ev/s/client | delivered ev/s | delivery | p50 ms | p99 ms | CPU s / M deliveries | user CPU | runs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in live:
    print(f"| {r['label']} | {r['connected']:.0f}/{r['clients']} | {r['rate']:g} | {r['events_per_s']:.0f} | "
          f"{100 * (r['delivery'] or 0):.2f}% | {f(r['p50_ms'])} | {f(r['p99_ms'])} | {f(r['cpu_s_per_million'])} | "
          f"{user_share(r)} | {r['runs']} |")
print()
print("| server | idle streams | RSS before (KiB) | RSS after (KiB) | KiB per connection | runs |")
print("|---|---:|---:|---:|---:|---:|")
for r in idle:
    per = (r["rss_kb"] - r["rss_kb_before"]) / max(r["connected"], 1)
    print(f"| {r['label'][:-5]} | {r['connected']:.0f} | {r['rss_kb_before']:.0f} | {r['rss_kb']:.0f} | {per:.2f} | {r['runs']} |")
base = {(r["clients"], r["rate"]): r for r in live if r["label"] == "baseline"}
print()
print("| server | clients | ev/s/client | CPU vs baseline | p99 vs baseline |")
print("|---|---:|---:|---:|---:|")
for r in live:
    b = base.get((r["clients"], r["rate"]))
    if r["label"] == "baseline" or not b:
        continue
    ratio = lambda k: "-" if not (r[k] and b[k]) else f"{r[k] / b[k]:.2f}x"
    print(f"| {r['label']} | {r['clients']} | {r['rate']:g} | {ratio('cpu_s_per_million')} | {ratio('p99_ms')} |")
PY
