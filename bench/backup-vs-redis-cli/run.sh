#!/usr/bin/env bash
# Benchmark: a Coffer DCS backup (POST …/backups → status succeed) against `redis-cli --rdb` of the
# same Redis server, in the same run, for a small and a ~1 GiB dataset. Prints both wall times, their
# ratio and the Coffer server's peak RSS growth during the backup. Goal: ratio ≤ 1.05, RSS ≤ 64 MiB.
#
#   bench/backup-vs-redis-cli/run.sh [--binary PATH] [--build] [--sizes small,1g] [--runs 3]
#
#   --binary PATH   coffer binary to test (default: .build/release/coffer; see --build)
#   --build         run `swift build -c release --product coffer` first (incremental) and use it
#   --sizes LIST    comma-separated datasets: small (10,000 keys), 1g (1,048,576 keys), or a number of
#                   keys; every value is 1 KiB of random bytes (default small,1g)
#   --runs N        rounds per dataset, each a redis-cli pull then a Coffer backup (default 3)
#   --log-level L   server log level (default info, the server default)
#   --format F      Coffer's backup_format: rdb (default) or aof (the AOF written while the RDB streams;
#                   rdb_bytes is then the AOF file's size)
#   --blobs B       Coffer's blob store: file (default: files under its data dir) or s3 (a SeaweedFS `weed mini`
#                   started here on loopback, `coffer serve --blobs s3://…`; multipart uploads)
#
# Needs redis-server, redis-cli, curl, python3 (stdlib only); redis-server is apt-installed if missing.
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too

source "$(dirname "$0")/../lib/common.sh"  # die, parse_options, select_binary, start_server, ...
source "$(dirname "$0")/../lib/s3.sh"  # start_s3
SIZES=small,1g RUNS=3 LOG_LEVEL=info FORMAT=rdb BLOBS=file
VALUE_BYTES=1024
parse_options "--sizes=SIZES --runs=RUNS --log-level=LOG_LEVEL --format=FORMAT --blobs=BLOBS" "$@"
[[ $BLOBS =~ ^(file|s3)$ ]] || die "--blobs wants file or s3, got '$BLOBS'"
[[ $FORMAT =~ ^(rdb|aof)$ ]] || die "--format wants rdb or aof, got '$FORMAT'"
[[ $SIZES =~ ^(small|1g|[0-9]+)(,(small|1g|[0-9]+))*$ ]] || die "--sizes wants small, 1g or key counts separated by commas, got '$SIZES'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number, got '$RUNS'"
keys_of() {  # keys_of DATASET
    case "$1" in small) echo 10000 ;; 1g) echo 1048576 ;; *) echo "$1" ;; esac
}

select_binary
debug_warning
need redis-server redis-server
need redis-cli redis-tools
need curl curl
start_work coffer-bench

# Diskless sync with no delay: both tools then measure the transfer itself, not Redis's default 5 s
# wait for more replicas before it forks. No persistence, so nothing else writes or forks.
mkdir -p "$WORK/redis"
start_redis --dir "$WORK/redis" --repl-diskless-sync yes --repl-diskless-sync-delay 0
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
info_field() {  # info_field SECTION FIELD
    rcli info "$1" | tr -d '\r' | sed -n "s/^$2://p"
}

# --- Coffer: first start (bootstrap account from the environment), then adopt the Redis ---
DATA="$WORK/data" LOG="$WORK/server.log"
mkdir -p "$DATA"
BLOB_ARGS=()
if [ "$BLOBS" = s3 ]; then
    start_s3
    BLOB_ARGS=(--blobs "$BLOBS_URL")
fi
start_server "$DATA" "$LOG" --region local-1 --log-level "$LOG_LEVEL" "${BLOB_ARGS[@]}"
IDS=$("${HELPER[@]}" setup "$ENDPOINT" "$DATA/bootstrap.json" "$REDIS_PORT")
read -r PROJECT INSTANCE <<<"$IDS"

echo "coffer bench: DCS backup (backup_format $FORMAT) vs redis-cli --rdb   binary: $BINARY ($KIND)"
[ "$BLOBS" = s3 ] && echo "blob store: S3, SeaweedFS weed mini on 127.0.0.1:$S3_PORT (shares the cores; redis-cli writes a local file)"
echo "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT:" \
     "repl-diskless-sync yes, repl-diskless-sync-delay 0 (not the default 5 s:"
echo "      both tools measure the transfer, not Redis's wait for more replicas), no persistence"
echo "values: $VALUE_BYTES B from os.urandom (incompressible); $RUNS rounds per dataset, each redis-cli then Coffer"
echo "coffer wall_s = POST sent → status 'succeed' seen (polled every 50 ms; includes the job worker's"
echo "      claim latency, it polls every 200 ms); server_s = the record's updated_at − execution_at"
echo "rss_growth = peak VmRSS of the server during the backup (50 ms samples and VmHWM) − VmRSS before the POST"
echo "tool_cpu_s = CPU of redis-cli / of the whole Coffer process during the pull; fork_cpu_s = CPU of Redis's fork child"
echo "NOTE: this machine has $(nproc) core(s): Redis's fork child (serialising the RDB), redis-cli or Coffer,"
echo "      and this script share them. 1-min load average before starting: $(cut -d' ' -f1 /proc/loadavg)"
echo "      (other busy processes skew the figures)"
debug_warning

SUMMARY=()
for SET in ${SIZES//,/ }; do
    KEYS=$(keys_of "$SET")
    # Disk: redis-cli's file and Coffer's blob (deleted after each round, so one of each at a time),
    # plus headroom; Redis itself keeps nothing on disk (no persistence, diskless sync).
    NEED_KIB=$(( KEYS * (VALUE_BYTES + 64) * 3 / 1024 + 100 * 1024 ))
    FREE_KIB=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
    if [ "$FREE_KIB" -lt "$NEED_KIB" ]; then
        die "dataset $SET needs ~$(( NEED_KIB / 1048576 + 1 )) GiB free in $WORK, only $(( FREE_KIB / 1048576 )) GiB there (set TMPDIR elsewhere)"
    fi
    # Load: RESP generated in Python, piped through redis-cli --pipe (one connection, pipelined).
    rcli flushall >/dev/null
    T0=$(date +%s.%N)
    "${HELPER[@]}" resp "$KEYS" "$VALUE_BYTES" | rcli --pipe >"$WORK/pipe.out" 2>&1 \
        || { cat "$WORK/pipe.out" >&2; die "loading $SET failed"; }
    T1=$(date +%s.%N)
    grep -q "errors: 0, replies: $KEYS" "$WORK/pipe.out" || { cat "$WORK/pipe.out" >&2; die "loading $SET: errors or missing replies"; }
    DBSIZE=$(rcli dbsize)
    [ "$DBSIZE" = "$KEYS" ] || die "loading $SET: DBSIZE $DBSIZE, expected $KEYS"
    echo
    echo "== dataset $SET: $KEYS keys × $VALUE_BYTES B, loaded in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s;" \
         "used_memory $(info_field memory used_memory_human) ($(info_field memory used_memory) bytes);" \
         "$(( FREE_KIB / 1048576 )) GiB free in $WORK =="
    ROWS="$WORK/rows-$SET"
    : >"$ROWS"
    printf '%-8s %-9s %3s %8s %9s %12s %14s %10s %10s\n' \
        dataset tool run wall_s server_s rdb_bytes rss_growth_MiB tool_cpu_s fork_cpu_s
    for RUN in $(seq "$RUNS"); do
        OUT=$("${HELPER[@]}" rediscli "$REDIS_PORT" "$REDIS_PID" "$WORK/redis-cli.rdb")
        echo "redis-cli $OUT" >>"$ROWS"
        read -r WALL SRV SIZE RSS CPU FORK _ <<<"$OUT"
        printf '%-8s %-9s %3s %8s %9s %12s %14s %10s %10s\n' "$SET" redis-cli "$RUN" "$WALL" "($SRV)" "$SIZE" "$RSS" "$CPU" "$FORK"
        OUT=$("${HELPER[@]}" coffer "$REDIS_PORT" "$REDIS_PID" "$ENDPOINT" "$DATA/bootstrap.json" "$INSTANCE" "$SERVER_PID" "$FORMAT")
        echo "coffer $OUT" >>"$ROWS"
        read -r WALL SRV SIZE RSS CPU FORK _ <<<"$OUT"
        printf '%-8s %-9s %3s %8s %9s %12s %14s %10s %10s\n' "$SET" coffer "$RUN" "$WALL" "($SRV)" "$SIZE" "$RSS" "$CPU" "$FORK"
    done
    OUT=$("${HELPER[@]}" summary "$ROWS" "$SET")
    echo "$OUT"
    SUMMARY+=("-- $SET ($KEYS keys) --" "$OUT")
done
rcli flushall >/dev/null

echo
echo "== summary ($KIND binary, $(nproc) cores shared by Redis's fork child and the client; 1-min load now $(cut -d' ' -f1 /proc/loadavg)) =="
printf '%s\n' "${SUMMARY[@]}"
debug_warning
