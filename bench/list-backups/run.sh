#!/usr/bin/env bash
# Benchmark: DCS list-backups (GET /v2/{project}/instances/{id}/backups, a 30-day window, limit 10)
# against GET /health on the same server, for several numbers of stored backup records.
# Prints req/s and p99 latency of both routes and their ratio.
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

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
HELPER=(python3 "$HERE/helper.py")
BINARY="" BUILD=0 SIZES=10000,1000000 DURATION=10s LOG_LEVEL=info

die() { echo "run.sh: $*" >&2; exit 1; }
usage() { sed -n '2,14s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) BINARY=${2:?}; shift 2 ;;
        --build) BUILD=1; shift ;;
        --sizes) SIZES=${2:?}; shift 2 ;;
        --duration) DURATION=${2:?}; shift 2 ;;
        --log-level) LOG_LEVEL=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
    esac
done
[[ $SIZES =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--sizes wants numbers separated by commas, got '$SIZES'"

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
    */debug/*) KIND=debug; echo "WARNING: ******** DEBUG BUILD: figures are NOT representative of production ********" >&2 ;;
esac

# --- tools ---
need() {  # need COMMAND PACKAGE
    command -v "$1" >/dev/null && return
    echo "installing $2 (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >&2 || die "cannot install $2"
}
need wrk wrk
need redis-server redis-server
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

# Coffer checks at instance creation that it can reach the Redis server; nothing else uses it.
REDIS_PORT=$("${HELPER[@]}" port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || { cat "$WORK/redis.log" >&2; die "redis-server did not start"; }

start_server() {  # start_server DATA_DIR LOG: a fresh port each time (no TIME_WAIT surprises)
    PORT=$("${HELPER[@]}" port)
    ENDPOINT="http://127.0.0.1:$PORT"
    COFFER_ADMIN_ACCESS_KEY=BENCHACCESSKEY000001 COFFER_ADMIN_SECRET_KEY=bench-secret-key-0000000000000000000000 \
    COFFER_ADMIN_PASSWORD=bench-password-1 \
        "$BINARY" serve --host 127.0.0.1 --port "$PORT" --data-dir "$1" --region local-1 --log-level "$LOG_LEVEL" \
        >>"$2" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 600); do
        curl -fsS "$ENDPOINT/health" >/dev/null 2>&1 && return
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$2" >&2; die "server exited at start (log above)"; }
        sleep 0.1
    done
    die "server not healthy after 60 s (log: $2)"
}
stop_server() { stop "$SERVER_PID"; SERVER_PID=""; }

bench() {  # bench URL [HEADER...]: 2 s warm-up (caches, connection setup), then the measured run
    local url=$1 out="$WORK/wrk.out" args=()
    shift
    for h in "$@"; do args+=(-H "$h"); done
    wrk -t2 -c16 -d2s "${args[@]}" "$url" >/dev/null
    wrk -t2 -c16 -d"$DURATION" --latency "${args[@]}" "$url" >"$out"
    "${HELPER[@]}" wrk "$out"
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
    start_server "$DATA" "$LOG"
    IDS=$("${HELPER[@]}" setup "$ENDPOINT" "$DATA/bootstrap.json" "$REDIS_PORT")
    read -r PROJECT INSTANCE OTHER <<<"$IDS"
    # 2. Seed with the server stopped: the bulk insert does not fight the server for the write lock or
    #    the CPU, and the server then opens a settled database, as after a restart in production.
    stop_server
    SECS=$("${HELPER[@]}" seed "$DATA/coffer.sqlite" "$PROJECT" "$INSTANCE" "$OTHER" "$N")
    start_server "$DATA" "$LOG"
    # 3. Sign once and check the answer (200, 10 newest records, total = SQLite's count), then replay.
    # Output lines: URL, Host, X-Sdk-Date and Authorization headers, number of records in the window.
    OUT=$("${HELPER[@]}" sign "$ENDPOINT" "$DATA/bootstrap.json" "$INSTANCE" "$DATA/coffer.sqlite")
    mapfile -t SIGNED <<<"$OUT"
    echo
    echo "== $N records (90% on the bench instance), seeded in ${SECS}s; the 30-day window holds ${SIGNED[4]} =="
    OUT=$(bench "$ENDPOINT/health")
    read -r H_RPS H_P99 <<<"$OUT"
    OUT=$(bench "${SIGNED[0]}" "${SIGNED[1]}" "${SIGNED[2]}" "${SIGNED[3]}")
    read -r L_RPS L_P99 <<<"$OUT"
    stop_server
    rm -rf "$DATA"  # 1M records are ~0.5 GB: do not keep them across sizes
    RATIO=$(awk -v l="$L_RPS" -v h="$H_RPS" 'BEGIN { printf "%.2f", l / h }')
    ROWS=$(printf '%-9s %-14s %8s %8s\n%-9s %-14s %8s %8s' "$N" health "$H_RPS" "$H_P99" "$N" list-backups "$L_RPS" "$L_P99")
    printf '%-9s %-14s %8s %8s\n%s\n' records route req/s p99_ms "$ROWS"
    echo "ratio list/health = $RATIO"
    SUMMARY+=("$ROWS" "$(printf '%-9s %-14s %8s' "$N" ratio "$RATIO")")
done

echo
echo "== summary ($KIND binary, $(nproc) cores shared with wrk) =="
printf '%-9s %-14s %8s %8s\n' records route req/s p99_ms
printf '%s\n' "${SUMMARY[@]}"
