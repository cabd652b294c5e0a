#!/usr/bin/env bash
# Soak: two Coffer nodes on one PostgreSQL and one S3 bucket (SeaweedFS), as a fleet runs. wrk hammers both
# nodes (half the connections each, as a load balancer would split them) with signed list-backups and
# show-instance requests, alternating, while DCS backups run back to back: created on one node, polled to an
# end and deleted on the other. Prints per node req/s, p99, non-2xx answers, socket errors and RSS before and
# after; the backup tally; and whether each node's RSS growth stayed within the bound.
#
#   bench/soak/run.sh [--binary PATH] [--build] [--duration 60] [--connections 256] [--keys 50000]
#
#   --duration S      seconds of load (default 60)
#   --connections C   wrk connections in all, split over the two nodes (default 256)
#   --keys K          keys of 1 KiB in the Redis the backups copy (default 50000, ~50 MB a backup)
#
# Needs wrk, redis-server, redis-cli, curl, python3 (stdlib only), PostgreSQL (scripts/install-deps) and
# SeaweedFS in .venv-tools (scripts/install-deps).
set -euo pipefail
shopt -s inherit_errexit

source "$(dirname "$0")/../lib/common.sh"  # die, parse_options, select_binary, start_server, ...
source "$(dirname "$0")/../lib/s3.sh"      # start_s3
source "$(dirname "$0")/../../scripts/lib/postgres.sh"  # start_test_postgres, stop_test_postgres
DURATION=60 CONNECTIONS=256 KEYS=50000
RSS_BOUND_MIB=64
parse_options "--duration=DURATION --connections=CONNECTIONS --keys=KEYS" "$@"
[[ $DURATION =~ ^[1-9][0-9]*$ && $CONNECTIONS =~ ^[1-9][0-9]*$ && $KEYS =~ ^[1-9][0-9]*$ ]] || die "numbers wanted"
select_binary
debug_warning
need wrk wrk
need redis-server redis-server
need redis-cli redis-tools
need curl curl
start_work coffer-soak
trap 'stop_test_postgres; cleanup' EXIT

start_test_postgres >/dev/null
start_s3
start_redis --dir "$WORK" --repl-diskless-sync yes --repl-diskless-sync-delay 0
redis-cli -p "$REDIS_PORT" debug populate "$KEYS" soak 1024 >/dev/null

# Node A first (migrations, the bootstrap account, master.key); node B shares its master key.
NODES=(a b)
declare -A NODE_ENDPOINT NODE_PID
for node in "${NODES[@]}"; do
    mkdir -p "$WORK/$node"
    [ "$node" = a ] || install -m 0600 "$WORK/a/master.key" "$WORK/$node/master.key"
    start_server "$WORK/$node" "$WORK/$node.log" --database "$COFFER_TEST_POSTGRES_URL" --blobs "$BLOBS_URL" --log-level warning
    NODE_ENDPOINT[$node]=$ENDPOINT NODE_PID[$node]=$SERVER_PID
    PIDS+=("$SERVER_PID")
done
read -r PROJECT INSTANCE <<<"$("${HELPER[@]}" setup "${NODE_ENDPOINT[a]}" "$WORK/a/bootstrap.json" "$REDIS_PORT")"

echo "coffer soak: 2 nodes, PostgreSQL $("$(pg_bindir)/postgres" --version | awk '{print $3}') (fsync off), SeaweedFS S3   binary: $BINARY ($KIND)"
echo "wrk: $CONNECTIONS connections over ${DURATION}s (half per node), signed list-backups and show-instance alternating;"
echo "     backups of $KEYS keys × 1 KiB created on one node, polled and deleted on the other, back to back"
echo "NOTE: $(nproc) core(s) shared by both nodes, PostgreSQL, SeaweedFS, Redis and wrk; load average now $(cut -d' ' -f1 /proc/loadavg)"

# Warm-up (connections, caches), then RSS before.
for node in "${NODES[@]}"; do
    "${HELPER[@]}" script "${NODE_ENDPOINT[$node]}" "$WORK/a/bootstrap.json" "$INSTANCE" "$WORK/$node.lua"
    wrk -t1 -c16 -d3s -s "$WORK/$node.lua" "${NODE_ENDPOINT[$node]}" >/dev/null
done
declare -A RSS_BEFORE RSS_AFTER
for node in "${NODES[@]}"; do RSS_BEFORE[$node]=$("${HELPER[@]}" rss "${NODE_PID[$node]}"); done

"${HELPER[@]}" backups "$WORK/a/bootstrap.json" "$INSTANCE" "$DURATION" "${NODE_ENDPOINT[@]}" >"$WORK/backups.out" 2>"$WORK/backups.err" &
BACKUPS_PID=$!
WRK_PIDS=()
for node in "${NODES[@]}"; do
    wrk -t1 -c$((CONNECTIONS / 2)) -d"${DURATION}s" --timeout 10s --latency -s "$WORK/$node.lua" "${NODE_ENDPOINT[$node]}" >"$WORK/wrk-$node.out" &
    WRK_PIDS+=($!)
done
wait "${WRK_PIDS[@]}"
wait "$BACKUPS_PID" || { cat "$WORK/backups.err" >&2; die "the backup loop failed"; }
for node in "${NODES[@]}"; do RSS_AFTER[$node]=$("${HELPER[@]}" rss "${NODE_PID[$node]}"); done

echo
printf '%-5s %8s %9s %8s %13s %14s %13s %10s\n' node req/s p99_ms non-2xx socket_errors rss_before_MiB rss_after_MiB growth
VERDICT=ok
for node in "${NODES[@]}"; do
    read -r RPS P99 NON2XX SOCKETS <<<"$("${HELPER[@]}" wrk "$WORK/wrk-$node.out")"
    GROWTH=$(awk -v a="${RSS_BEFORE[$node]}" -v b="${RSS_AFTER[$node]}" 'BEGIN { printf "%.1f", b - a }')
    printf '%-5s %8s %9s %8s %13s %14s %13s %10s\n' "$node" "$RPS" "$P99" "$NON2XX" "$SOCKETS" "${RSS_BEFORE[$node]}" "${RSS_AFTER[$node]}" "$GROWTH"
    awk -v g="$GROWTH" -v b="$RSS_BOUND_MIB" 'BEGIN { exit !(g > b) }' && VERDICT="RSS growth over $RSS_BOUND_MIB MiB"
    [ "$NON2XX" = 0 ] || VERDICT="error answers"
done
read -r OK FAILED BUSY ERRORS MEDIAN <<<"$(cat "$WORK/backups.out")"
echo "backups: $OK succeed, $FAILED failed, $BUSY refused busy, $ERRORS request errors; median create → succeed ${MEDIAN} s"
if [ "$FAILED" != 0 ] || [ "$ERRORS" != 0 ]; then
    VERDICT="backup failures"
    sed -n '1,10p' "$WORK/backups.err" >&2
    echo "what the nodes logged about failures:" >&2
    grep -h -i -E 'error|fail' "$WORK/a.log" "$WORK/b.log" | sort | uniq -c | sort -rn | head -10 >&2
    KEPT=$(mktemp -d "${TMPDIR:-/tmp}/coffer-soak-logs.XXXXXX")
    cp "$WORK/a.log" "$WORK/b.log" "$WORK/s3/weed.log" "$WORK/backups.err" "$KEPT/"
    echo "logs kept in $KEPT" >&2
fi
echo "verdict: $VERDICT (bounds: no error answers, no failed backup, RSS growth ≤ $RSS_BOUND_MIB MiB per node)"
debug_warning
