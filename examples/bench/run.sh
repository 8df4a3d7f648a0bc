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
OUT=${OUT:-$CARGO_TARGET_DIR/bench/fanout.jsonl}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}

cargo build --release -q -p examples --bin bench-server --bin bench-baseline --bin loadgen
BIN=$CARGO_TARGET_DIR/release
mkdir -p "$(dirname "$OUT")"
: >"$OUT"

# taskset when there is more than one CPU to pin to. An array, not a function, so that
# `$!` is the server's own pid (taskset execs it).
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

for clients in $CLIENTS; do
    for rate in $RATES; do
        for server in $SERVERS; do
            start_server "$server" "$rate"
            "${GEN_PIN[@]}" "$BIN/loadgen" --port "$PORT" --clients "$clients" --rate "$rate" \
                --duration "$DURATION" --pid "$SRV_PID" --label "$server" | tee -a "$OUT"
            stop_server
        done
    done
done
for server in $SERVERS; do
    start_server "$server" 0
    "${GEN_PIN[@]}" "$BIN/loadgen" --port "$PORT" --clients "$IDLE_CLIENTS" --idle \
        --duration 2 --pid "$SRV_PID" --label "$server-idle" | tee -a "$OUT"
    stop_server
done

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
live = [r for r in rows if not r["label"].endswith("-idle")]
idle = {r["label"][:-5]: r for r in rows if r["label"].endswith("-idle")}
f = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"
print("| server | clients | ev/s/client | delivered ev/s | delivery | p50 ms | p99 ms | CPU s / M deliveries |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for r in live:
    print(f"| {r['label']} | {r['connected']}/{r['clients']} | {r['rate']:g} | {r['events_per_s']:.0f} | "
          f"{100 * (r['delivery'] or 0):.2f}% | {f(r['p50_ms'])} | {f(r['p99_ms'])} | {f(r['cpu_s_per_million'])} |")
print()
print("| server | idle streams | RSS before (KiB) | RSS after (KiB) | KiB per connection |")
print("|---|---:|---:|---:|---:|")
for name, r in idle.items():
    per = (r["rss_kb"] - r["rss_kb_before"]) / max(r["connected"], 1)
    print(f"| {name} | {r['connected']} | {r['rss_kb_before']} | {r['rss_kb']} | {per:.2f} |")
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
