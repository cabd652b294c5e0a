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
#
# Needs redis-server, redis-cli, curl, python3 (stdlib only); redis-server is apt-installed if missing.
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
HELPER=(python3 "$HERE/helper.py")
BINARY="" BUILD=0 SIZES=small,1g RUNS=3 LOG_LEVEL=info
VALUE_BYTES=1024

die() { echo "run.sh: $*" >&2; exit 1; }
usage() { sed -n '2,15s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) BINARY=${2:?}; shift 2 ;;
        --build) BUILD=1; shift ;;
        --sizes) SIZES=${2:?}; shift 2 ;;
        --runs) RUNS=${2:?}; shift 2 ;;
        --log-level) LOG_LEVEL=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
    esac
done
[[ $SIZES =~ ^(small|1g|[0-9]+)(,(small|1g|[0-9]+))*$ ]] || die "--sizes wants small, 1g or key counts separated by commas, got '$SIZES'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number, got '$RUNS'"
keys_of() {  # keys_of DATASET
    case "$1" in small) echo 10000 ;; 1g) echo 1048576 ;; *) echo "$1" ;; esac
}

# --- the binary: a release build, because debug Swift is several times slower and skews the ratio ---
RELEASE="$ROOT/.build/release/coffer"
if [ -z "$BINARY" ]; then
    if [ "$BUILD" = 1 ]; then
        (cd "$ROOT" && swift build -c release --product coffer) || die "release build failed"
    fi
    if [ -x "$RELEASE" ]; then
        BINARY=$RELEASE
        # A stale release binary silently benchmarks old code.
        if [ -n "$(find "$ROOT/Sources" -newer "$RELEASE" -name '*.swift' -print -quit)" ]; then
            echo "WARNING: Sources/ has changes newer than $RELEASE; pass --build to rebuild it." >&2
        fi
    else
        BINARY="$ROOT/.build/debug/coffer"
        echo "WARNING: no release binary and no --build: falling back to the DEBUG build ($BINARY)." >&2
    fi
elif [ "$BUILD" = 1 ]; then
    die "--build and --binary exclude each other"
fi
[ -x "$BINARY" ] || die "no executable at $BINARY"
KIND=custom
case "$BINARY" in
    */release/*) KIND=release ;;
    */debug/*) KIND=debug ;;
esac
debug_warning() {
    [ "$KIND" = debug ] && echo "WARNING: ******** DEBUG BUILD: figures are NOT representative of production ********" >&2
    return 0
}
debug_warning

# --- tools ---
need() {  # need COMMAND PACKAGE
    command -v "$1" >/dev/null && return
    echo "installing $2 (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >&2 || die "cannot install $2"
}
need redis-server redis-server
need redis-cli redis-tools
need curl curl

# --- processes and temp dir: everything started here is stopped on any exit ---
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-bench.XXXXXX")
SERVER_PID="" REDIS_PID=""
stop() {  # stop PID: SIGTERM, then SIGKILL after 20 s
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    [ -n "$SERVER_PID" ] && stop "$SERVER_PID"
    [ -n "$REDIS_PID" ] && stop "$REDIS_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that the EXIT trap runs on Ctrl-C too

# Diskless sync with no delay: both tools then measure the transfer itself, not Redis's default 5 s
# wait for more replicas before it forks. No persistence, so nothing else writes or forks.
REDIS_PORT=$("${HELPER[@]}" port)
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save "" --appendonly no \
    --repl-diskless-sync yes --repl-diskless-sync-delay 0 --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || { cat "$WORK/redis.log" >&2; die "redis-server did not start"; }
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
info_field() {  # info_field SECTION FIELD
    rcli info "$1" | tr -d '\r' | sed -n "s/^$2://p"
}

# --- Coffer: first start (bootstrap account from the environment), then adopt the Redis ---
PORT=$("${HELPER[@]}" port)
ENDPOINT="http://127.0.0.1:$PORT"
DATA="$WORK/data" LOG="$WORK/server.log"
mkdir -p "$DATA"
COFFER_ADMIN_ACCESS_KEY=BENCHACCESSKEY000001 COFFER_ADMIN_SECRET_KEY=bench-secret-key-0000000000000000000000 \
COFFER_ADMIN_PASSWORD=bench-password-1 \
    "$BINARY" serve --host 127.0.0.1 --port "$PORT" --data-dir "$DATA" --region local-1 --log-level "$LOG_LEVEL" \
    >>"$LOG" 2>&1 &
SERVER_PID=$!
HEALTHY=0
for _ in $(seq 600); do
    curl -fsS "$ENDPOINT/health" >/dev/null 2>&1 && { HEALTHY=1; break; }
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$LOG" >&2; die "server exited at start (log above)"; }
    sleep 0.1
done
[ "$HEALTHY" = 1 ] || die "server not healthy after 60 s (log: $LOG)"
IDS=$("${HELPER[@]}" setup "$ENDPOINT" "$DATA/bootstrap.json" "$REDIS_PORT")
read -r PROJECT INSTANCE <<<"$IDS"

echo "coffer bench: DCS backup vs redis-cli --rdb   binary: $BINARY ($KIND)"
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
        OUT=$("${HELPER[@]}" coffer "$REDIS_PORT" "$REDIS_PID" "$ENDPOINT" "$DATA/bootstrap.json" "$INSTANCE" "$SERVER_PID")
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
