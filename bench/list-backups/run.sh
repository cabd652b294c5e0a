#!/usr/bin/env bash
# Benchmark: DCS list-backups (GET /v2/{project}/instances/{id}/backups, a 30-day window, limit 10)
# against GET /health on the same server, for several numbers of stored backup records.
# Prints req/s, p99 latency and the server's CPU time per request (cpu_us) of both routes, and their ratios:
# by req/s (the goal's measure) and by CPU per request (steadier when other processes share the cores).
#
#   bench/list-backups/run.sh [--binary PATH] [--build] [--sizes 10000,1000000] [--duration 10s]
#
#   --binary PATH   coffer binary to test (default: .build/release/coffer; see --build)
#   --build         run `swift build -c release --product coffer` first (incremental) and use it
#   --sizes LIST    comma-separated numbers of backup records (default 10000,1000000)
#   --duration D    wrk measuring time per route (default 10s), after a 2 s warm-up
#   --log-level L   server log level (default info, the server default: every request logs a line)
#
# Needs wrk, redis-server, curl, python3 (stdlib only); wrk and redis-server are apt-installed if missing.
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too

source "$(dirname "$0")/../lib/common.sh"  # die, parse_options, select_binary, start_server, ...
SIZES=10000,1000000 DURATION=10s LOG_LEVEL=info
parse_options "--sizes=SIZES --duration=DURATION --log-level=LOG_LEVEL" "$@"
[[ $SIZES =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--sizes wants numbers separated by commas, got '$SIZES'"
select_binary
debug_warning
need wrk wrk
need redis-server redis-server
need curl curl
start_work coffer-bench

# Coffer checks at instance creation that it can reach the Redis server; nothing else uses it.
start_redis

server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }  # utime + stime, in clock ticks

bench() {  # bench URL [HEADER...]: 2 s warm-up (caches, connection setup), then the measured run
    local url=$1 out="$WORK/wrk.out" args=() before after requests
    shift
    for h in "$@"; do args+=(-H "$h"); done
    wrk -t2 -c16 -d2s "${args[@]}" "$url" >/dev/null
    before=$(server_cpu_ticks)
    wrk -t2 -c16 -d"$DURATION" --latency "${args[@]}" "$url" >"$out"
    after=$(server_cpu_ticks)
    # The server's own CPU time per request: unlike req/s, it hardly moves when other processes take cores.
    requests=$(awk '/requests in/ { print $1 }' "$out")
    printf '%s %s\n' "$("${HELPER[@]}" wrk "$out")" \
        "$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }')"
}

echo "coffer bench: list-backups vs health   binary: $BINARY"
echo "wrk -t2 -c16 -d$DURATION --latency; server log level: $LOG_LEVEL"
echo "NOTE: this machine has $(nproc) core(s) and wrk runs on them too: wrk and the server compete for CPU,"
echo "      so absolute req/s understate a dedicated server; compare the ratio and runs on the same machine."
echo "      1-min load average before starting: $(cut -d' ' -f1 /proc/loadavg) (other busy processes skew the figures)"
SUMMARY=()
for N in ${SIZES//,/ }; do
    DATA="$WORK/data-$N" LOG="$WORK/server-$N.log"
    mkdir -p "$DATA"
    # 1. First start: bootstrap account, schema, and the two instances (through the API, signed).
    start_server "$DATA" "$LOG" --region local-1 --log-level "$LOG_LEVEL"
    IDS=$("${HELPER[@]}" setup "$ENDPOINT" "$DATA/bootstrap.json" "$REDIS_PORT")
    read -r PROJECT INSTANCE OTHER <<<"$IDS"
    # 2. Seed with the server stopped: the bulk insert does not fight the server for the write lock or
    #    the CPU, and the server then opens a settled database, as after a restart in production.
    stop_server
    SECS=$("${HELPER[@]}" seed "$DATA/coffer.sqlite" "$PROJECT" "$INSTANCE" "$OTHER" "$N")
    start_server "$DATA" "$LOG" --region local-1 --log-level "$LOG_LEVEL"
    # 3. Sign once and check the answer (200, 10 newest records, total = SQLite's count), then replay.
    # Output lines: URL, Host, X-Sdk-Date and Authorization headers, number of records in the window.
    OUT=$("${HELPER[@]}" sign "$ENDPOINT" "$DATA/bootstrap.json" "$INSTANCE" "$DATA/coffer.sqlite")
    mapfile -t SIGNED <<<"$OUT"
    echo
    echo "== $N records (90% on the bench instance), seeded in ${SECS}s; the 30-day window holds ${SIGNED[4]} =="
    OUT=$(bench "$ENDPOINT/health")
    read -r H_RPS H_P99 H_CPU <<<"$OUT"
    OUT=$(bench "${SIGNED[0]}" "${SIGNED[1]}" "${SIGNED[2]}" "${SIGNED[3]}")
    read -r L_RPS L_P99 L_CPU <<<"$OUT"
    stop_server
    rm -rf "$DATA"  # 1M records are ~0.5 GB: do not keep them across sizes
    RATIO=$(awk -v l="$L_RPS" -v h="$H_RPS" 'BEGIN { printf "%.2f", l / h }')
    CPU_RATIO=$(awk -v l="$L_CPU" -v h="$H_CPU" 'BEGIN { printf "%.2f", h / l }')
    ROWS=$(printf '%-9s %-14s %8s %8s %8s\n%-9s %-14s %8s %8s %8s' \
        "$N" health "$H_RPS" "$H_P99" "$H_CPU" "$N" list-backups "$L_RPS" "$L_P99" "$L_CPU")
    printf '%-9s %-14s %8s %8s %8s\n%s\n' records route req/s p99_ms cpu_us "$ROWS"
    echo "ratio list/health = $RATIO (by server CPU per request: $CPU_RATIO)"
    SUMMARY+=("$ROWS" "$(printf '%-9s %-14s %8s %8s %8s' "$N" ratio "$RATIO" "" "$CPU_RATIO")")
done

echo
echo "== summary ($KIND binary, $(nproc) cores shared with wrk) =="
printf '%-9s %-14s %8s %8s %8s\n' records route req/s p99_ms cpu_us
printf '%s\n' "${SUMMARY[@]}"
