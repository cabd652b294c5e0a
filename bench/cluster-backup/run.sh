#!/usr/bin/env bash
# Benchmark: a Coffer backup of a Redis Cluster (3 masters + 3 replicas, KEYS keys per shard) against three
# `redis-cli --rdb` run in parallel against the same nodes (the replicas, where Coffer pulls each shard from), in the
# same run. Prints each round's wall times, the medians and their ratio. Goal: ratio ≤ 1.1.
#
#   bench/cluster-backup/run.sh [--binary PATH] [--build] [--keys 300000] [--value-bytes 128] [--runs 3]
#
#   --binary PATH      coffer binary to test (default: .build/release/coffer; see --build)
#   --build            run `swift build -c release --product coffer` first (incremental) and use it
#   --keys N           keys per shard (default 300000), each `SET k:<n> <random value>` routed to its master
#   --value-bytes N    value size (default 128)
#   --runs N           rounds, each the three redis-cli pulls then one Coffer backup (default 3)
#
# Needs redis-server, redis-cli (redis-tools), curl, python3 (stdlib only).
set -euo pipefail
shopt -s inherit_errexit

source "$(dirname "$0")/../lib/common.sh"  # die, parse_options, select_binary, start_server, ...
KEYS=300000 VALUE_BYTES=128 RUNS=3
parse_options "--keys=KEYS --value-bytes=VALUE_BYTES --runs=RUNS" "$@"
[[ $KEYS =~ ^[1-9][0-9]*$ ]] || die "--keys wants a positive number, got '$KEYS'"
[[ $VALUE_BYTES =~ ^[1-9][0-9]*$ ]] || die "--value-bytes wants a positive number, got '$VALUE_BYTES'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number, got '$RUNS'"

select_binary
debug_warning
need redis-server redis-server
need redis-cli redis-tools
need curl curl
start_work coffer-cluster-bench

# Six nodes, diskless replication without the 5 s wait (both tools then measure the transfer), no persistence.
NODES=()
for i in 0 1 2 3 4 5; do
    port=$("${HELPER[@]}" port)
    bus=$("${HELPER[@]}" port)
    mkdir -p "$WORK/node-$i"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$WORK/node-$i" --save "" --appendonly no \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$bus" --cluster-node-timeout 5000 \
        --repl-diskless-sync yes --repl-diskless-sync-delay 0 --daemonize no >"$WORK/node-$i.log" 2>&1 &
    PIDS+=("$!")
    NODES+=("$port")
done
for port in "${NODES[@]}"; do
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${NODES[@]}") --cluster-replicas 1 --cluster-yes >"$WORK/create.log" 2>&1 \
    || { cat "$WORK/create.log" >&2; die "redis-cli --cluster create failed"; }
for _ in $(seq 300); do
    ok=1
    for port in "${NODES[@]}"; do
        redis-cli -p "$port" cluster info | grep -q "cluster_state:ok" || ok=0
        redis-cli -p "$port" info replication | grep -q -E "role:master|master_link_status:up" || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.2
done
[ "$ok" = 1 ] || die "the cluster did not become ready"

# Masters and their slots from CLUSTER SLOTS; each master gets KEYS keys of its own slots through redis-cli --pipe.
MASTERS=() REPLICAS=()
while read -r mport slots; do MASTERS+=("$mport:$slots"); done < <("${HELPER[@]}" masters "${NODES[0]}")
[ "${#MASTERS[@]}" = 3 ] || die "expected 3 masters, CLUSTER SLOTS gave: ${MASTERS[*]}"
T0=$(date +%s.%N)
for entry in "${MASTERS[@]}"; do
    mport=${entry%%:*} slots=${entry#*:}
    "${HELPER[@]}" resp "$slots" "$KEYS" "$VALUE_BYTES" | redis-cli -p "$mport" --pipe >"$WORK/pipe-$mport.out" 2>&1 \
        || { cat "$WORK/pipe-$mport.out" >&2; die "loading $mport failed"; }
    grep -q "errors: 0, replies: $KEYS" "$WORK/pipe-$mport.out" || { cat "$WORK/pipe-$mport.out" >&2; die "loading $mport: errors"; }
done
T1=$(date +%s.%N)
for port in "${NODES[@]}"; do
    if redis-cli -p "$port" info replication | grep -q "role:slave"; then REPLICAS+=("$port"); fi
done
[ "${#REPLICAS[@]}" = 3 ] || die "expected 3 replicas, found ${REPLICAS[*]}"
for _ in $(seq 600); do
    synced=1
    for port in "${REPLICAS[@]}"; do [ "$(redis-cli -p "$port" dbsize)" = "$KEYS" ] || synced=0; done
    [ "$synced" = 1 ] && break
    sleep 0.1
done
[ "$synced" = 1 ] || die "the replicas did not catch up"

DATA="$WORK/data" LOG="$WORK/server.log"
mkdir -p "$DATA"
start_server "$DATA" "$LOG" --region local-1
read -r PROJECT INSTANCE <<<"$("${HELPER[@]}" setup "$ENDPOINT" "$DATA/bootstrap.json" "${REPLICAS[0]}")"

echo "coffer bench: cluster backup vs 3 × redis-cli --rdb in parallel   binary: $BINARY ($KIND)"
echo "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'): 3 masters + 3 replicas on 127.0.0.1, diskless sync, delay 0,"
echo "      no persistence; $KEYS keys × $VALUE_BYTES B (random) per shard, loaded in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s"
echo "redis-cli: one --rdb per replica (${REPLICAS[*]}), all started together, wall = until the last one ends"
echo "coffer: POST …/backups → the record marked 'succeed' (its updated_at, seen by a poll every 50 ms); it pulls each"
echo "      shard from its replica, all at once"
echo "NOTE: $(nproc) core(s) shared by 3 fork children, the clients and this script; load before: $(cut -d' ' -f1 /proc/loadavg)"
ROWS="$WORK/rows"
: >"$ROWS"
printf '%-9s %3s %8s %12s %6s\n' tool run wall_s bytes cpu_s
for RUN in $(seq "$RUNS"); do
    OUT=$("${HELPER[@]}" rediscli "$WORK/cli" "${REPLICAS[@]}")
    echo "redis-cli $OUT" >>"$ROWS"
    printf '%-9s %3s %8s %12s %6s\n' redis-cli "$RUN" $OUT
    OUT=$("${HELPER[@]}" coffer "$ENDPOINT" "$DATA/bootstrap.json" "$INSTANCE" "$SERVER_PID")
    echo "coffer $OUT" >>"$ROWS"
    printf '%-9s %3s %8s %12s %6s\n' coffer "$RUN" $OUT
done
"${HELPER[@]}" summary "$ROWS"
echo "coffer server-side seconds per backup (claim → record succeed, from its log): $(grep -o 'backup.seconds=[0-9.]*' "$LOG" | cut -d= -f2 | xargs)"
debug_warning
