#!/usr/bin/env bash
# Benchmark: a Coffer DCS restore (a migration task: POST → status SUCCESS) of a backup into a running
# Redis, side by side in one run with the online ceiling (`redis-cli --pipe` of the same keys as RESTORE
# commands, from DUMP) and the physical limit (the target's own loader reading the same RDB at start-up).
# Two datasets: small (1,000,000 strings of ~10 B + 2,000 hashes × 50 fields) and 1k (300,000 × 1 KiB).
# Coffer runs twice: with the replication fast path (the target replicates from Coffer), then with it off
# (`--restore-listen-host off`: fence, safety snapshot, FLUSHALL, pipelined RESTORE). For the RESTORE path the
# target holds the dataset beforehand, so its safety snapshot is a full one: it is timed apart (a Coffer
# backup of the target just before) and the ratio is given with and without it.
# Goals (issue 8): small ≤ 0.5 × ceiling on the fast path, ≤ 1.2 × on the RESTORE path (snapshot apart);
# 1k ≤ 1.3 × on either path; Coffer's RSS growth ≤ 64 MiB.
#
#   bench/restore/run.sh [--binary PATH] [--build] [--sets small,1k]
#
# Needs redis-server, redis-cli, curl, python3 (stdlib only).
set -euo pipefail
shopt -s inherit_errexit

source "$(dirname "$0")/../lib/common.sh"
SETS=small,1k LOG_LEVEL=info
parse_options "--sets=SETS --log-level=LOG_LEVEL" "$@"
[[ $SETS =~ ^(small|1k)(,(small|1k))*$ ]] || die "--sets wants small and/or 1k, got '$SETS'"
select_binary
debug_warning
need redis-server redis-server
need redis-cli redis-tools
need curl curl
start_work coffer-bench-restore

# Source: diskless sync without delay, so backups measure the transfer. Target: defaults (7.0 loads a full
# sync through a file on disk unless Coffer switches it to swapdb for the restore).
mkdir -p "$WORK/src" "$WORK/tgt"
start_redis --dir "$WORK/src" --repl-diskless-sync yes --repl-diskless-sync-delay 0
SRC_PORT=$REDIS_PORT
TGT_PORT=$("${HELPER[@]}" port)
redis-server --port "$TGT_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/tgt" \
    --repl-diskless-sync yes --repl-diskless-sync-delay 0 --daemonize no >"$WORK/tgt.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do redis-cli -p "$TGT_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
tgt() { redis-cli -p "$TGT_PORT" "$@"; }
# The target's main-thread CPU seconds so far (user + sys): how much of each run's wall time Redis itself worked.
tgtcpu() { tgt info cpu | tr -d '\r' | awk -F: '/used_cpu_(sys|user)_main_thread/ { s += $2 } END { printf "%.3f", s }'; }

DATA="$WORK/data" LOG="$WORK/server.log"
mkdir -p "$DATA"
start_server "$DATA" "$LOG" --region local-1 --log-level "$LOG_LEVEL"
read -r PROJECT SOURCE TARGET <<<"$("${HELPER[@]}" setup "$ENDPOINT" "$DATA/bootstrap.json" "$SRC_PORT" "$TGT_PORT")"

echo "coffer bench: DCS restore vs redis-cli --pipe of RESTORE vs the target's own RDB load   binary: $BINARY ($KIND)"
echo "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'); $(nproc) cores shared by both Redis servers, Coffer and this script;"
echo "1-min load average before starting: $(cut -d' ' -f1 /proc/loadavg)"
echo "coffer wall = POST migration-task → status SUCCESS (polled every 50 ms, includes the job worker's claim latency)"
SUMMARY=()
for SET in ${SETS//,/ }; do
    KEYS=$("${HELPER[@]}" load "$SRC_PORT" "$SET")
    read -r BACKUP BACKUP_S <<<"$("${HELPER[@]}" backup "$ENDPOINT" "$DATA/bootstrap.json" "$SOURCE")"
    # The same snapshot as a file, for the target's own loader, and as RESTORE commands, for --pipe.
    redis-cli -p "$SRC_PORT" --rdb "$WORK/dump.rdb" >/dev/null 2>&1
    RDB_BYTES=$(stat -c %s "$WORK/dump.rdb")
    "${HELPER[@]}" dumps "$SRC_PORT" "$WORK/restore.resp" >/dev/null
    "${HELPER[@]}" commands "$SRC_PORT" "$WORK/commands.resp" >/dev/null
    echo
    echo "== $SET: $KEYS keys, RDB $RDB_BYTES bytes (Coffer's backup took ${BACKUP_S} s) =="

    # 1. Physical limit: a fresh redis-server loading dump.rdb at start-up.
    mkdir -p "$WORK/load" && cp "$WORK/dump.rdb" "$WORK/load/dump.rdb"
    LOAD_PORT=$("${HELPER[@]}" port)
    redis-server --port "$LOAD_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/load" --daemonize no \
        >"$WORK/load.log" 2>&1 &
    LOAD_PID=$!
    for _ in $(seq 600); do grep -q "DB loaded from disk" "$WORK/load.log" && break; sleep 0.1; done
    LOAD_S=$("${HELPER[@]}" loadtime "$WORK/load.log")
    stop "$LOAD_PID"; rm -rf "$WORK/load"

    # 2. Online ceiling: redis-cli --pipe of the RESTORE commands into the flushed target.
    tgt flushall >/dev/null
    C0=$(tgtcpu)
    T0=$(date +%s.%N)
    tgt --pipe <"$WORK/restore.resp" >"$WORK/pipe.out" 2>&1 || { cat "$WORK/pipe.out" >&2; die "--pipe failed"; }
    T1=$(date +%s.%N)
    PIPE_CPU=$(awk -v a="$C0" -v b="$(tgtcpu)" 'BEGIN { printf "%.2f", b - a }')
    grep -q "errors: 0, replies: $KEYS" "$WORK/pipe.out" || { cat "$WORK/pipe.out" >&2; die "--pipe: errors or missing replies"; }
    PIPE_S=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f", b - a }')
    # 2c. The like-for-like ceiling: --pipe of the command forms Coffer's RESTORE path sends (MSETNX / SET NX
    #     for strings, RESTORE for the rest), also into the flushed target without a backlog.
    tgt flushall >/dev/null
    T0=$(date +%s.%N)
    tgt --pipe <"$WORK/commands.resp" >"$WORK/pipe.out" 2>&1 || { cat "$WORK/pipe.out" >&2; die "--pipe of Coffer's forms failed"; }
    T1=$(date +%s.%N)
    grep -q "errors: 0" "$WORK/pipe.out" || { cat "$WORK/pipe.out" >&2; die "--pipe of Coffer's forms: errors"; }
    [ "$(tgt dbsize)" = "$KEYS" ] || die "--pipe of Coffer's forms: target DBSIZE $(tgt dbsize), expected $KEYS"
    FORMS_S=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f", b - a }')
    # 2b. The same once the target has a replication backlog, as it has after any snapshot taken by replication
    #     (every Coffer backup, the RESTORE path's own safety snapshot) for repl-backlog-ttl (1 h): Redis then
    #     also appends every write to the backlog. Measured here at 20-30 % more server time for small keys.
    tgt --rdb "$WORK/backlog.rdb" >/dev/null 2>&1 && rm -f "$WORK/backlog.rdb"
    tgt flushall >/dev/null
    T0=$(date +%s.%N)
    tgt --pipe <"$WORK/restore.resp" >"$WORK/pipe.out" 2>&1 || { cat "$WORK/pipe.out" >&2; die "--pipe failed"; }
    T1=$(date +%s.%N)
    PIPE_BACKLOG_S=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f", b - a }')

    # 3. Coffer, fast path, into the flushed target.
    tgt flushall >/dev/null
    read -r FAST_S FAST_RSS <<<"$("${HELPER[@]}" restore "$ENDPOINT" "$DATA/bootstrap.json" "$BACKUP" "$TARGET" "$SERVER_PID")"
    [ "$(tgt dbsize)" = "$KEYS" ] || die "fast path: target DBSIZE $(tgt dbsize), expected $KEYS"
    grep "succeeded by replication" "$LOG" | tail -1 | grep -o 'restore\.[a-z_]*=[^ ]*' | tr '\n' ' ' | sed 's/^/  fast path phases: /'
    echo

    # 4. Coffer, RESTORE path (restart with the fast path off); the target still holds the dataset, so the
    #    safety snapshot is a full one, timed apart by a backup of the target just before.
    stop_server
    start_server "$DATA" "$LOG" --region local-1 --log-level "$LOG_LEVEL" --restore-listen-host off
    read -r _ SAFETY_S <<<"$("${HELPER[@]}" backup "$ENDPOINT" "$DATA/bootstrap.json" "$TARGET")"
    C0=$(tgtcpu)
    read -r SLOW_S SLOW_RSS <<<"$("${HELPER[@]}" restore "$ENDPOINT" "$DATA/bootstrap.json" "$BACKUP" "$TARGET" "$SERVER_PID")"
    SLOW_CPU=$(awk -v a="$C0" -v b="$(tgtcpu)" 'BEGIN { printf "%.2f", b - a }')
    [ "$(tgt dbsize)" = "$KEYS" ] || die "RESTORE path: target DBSIZE $(tgt dbsize), expected $KEYS"
    grep "DCS restore succeeded" "$LOG" | grep "restore.write_s" | tail -1 | grep -o 'restore\.[a-z_]*=[^ ]*' | tr '\n' ' ' \
        | sed 's/^/  RESTORE path phases: /'
    echo
    echo "  target main-thread CPU: --pipe ${PIPE_CPU} s of ${PIPE_S} s; Coffer RESTORE path ${SLOW_CPU} s of ${SLOW_S} s (safety snapshot included)"
    stop_server
    start_server "$DATA" "$LOG" --region local-1 --log-level "$LOG_LEVEL"

    ROWS=$(awk -v set="$SET" -v boot="$LOAD_S" -v pipe="$PIPE_S" -v fast="$FAST_S" -v slow="$SLOW_S" -v safety="$SAFETY_S" \
        -v frss="$FAST_RSS" -v srss="$SLOW_RSS" -v backlog="$PIPE_BACKLOG_S" -v forms="$FORMS_S" 'BEGIN {
        printf "%-6s target loads the RDB at start-up   %7.3f s  (%.2f × ceiling)\n", set, boot, boot / pipe
        printf "%-6s redis-cli --pipe of RESTORE        %7.3f s  (the online ceiling)\n", set, pipe
        printf "%-6s   the same, target with a backlog  %7.3f s  (RESTORE path without the snapshot: %.2f × this)\n", set, backlog, (slow - safety) / backlog
        printf "%-6s   --pipe of Coffer'"'"'s command forms  %7.3f s  (RESTORE path without the snapshot: %.2f × this)\n", set, forms, (slow - safety) / forms
        printf "%-6s coffer, replication fast path      %7.3f s  ratio %.2f  rss +%s MiB\n", set, fast, fast / pipe, frss
        printf "%-6s coffer, RESTORE path               %7.3f s  ratio %.2f  rss +%s MiB\n", set, slow, slow / pipe, srss
        printf "%-6s   of which safety snapshot ≈       %7.3f s  ratio without it %.2f\n", set, safety, (slow - safety) / pipe
    }')
    echo "$ROWS"
    SUMMARY+=("$ROWS")
    rm -f "$WORK/dump.rdb" "$WORK/restore.resp"
done
echo
echo "== summary ($KIND binary; goals: small fast ≤ 0.50, small RESTORE ≤ 1.20 without the snapshot, 1k ≤ 1.30, rss ≤ 64 MiB) =="
printf '%s\n' "${SUMMARY[@]}"
