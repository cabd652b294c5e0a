# What every bench/*/run.sh does the same way, sourced by each right after `set -euo pipefail`:
#     source "$(dirname "$0")/../lib/common.sh"
# It sets HERE (the bench's folder), ROOT (the repository) and HELPER (the bench's helper.py), and
# defines the functions below. The bench keeps what it measures and prints.

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
HELPER=(python3 "$HERE/helper.py")
BINARY="" BUILD=0

die() { echo "run.sh: $*" >&2; exit 1; }
# The usage text is the script's own header comment (line 2 up to the first line that is not one).
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

# parse_options "--OPT=VAR ..." ARGS...: --binary, --build and --help, which every bench has, and the
# bench's own options, each of which takes one value into the variable VAR.
parse_options() {
    local own=" $1 " var
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
            --binary) BINARY=${2:?}; shift 2 ;;
            --build) BUILD=1; shift ;;
            -h|--help) usage ;;
            *)  [[ $1 == --* && $own == *" $1="* ]] || { echo "run.sh: unknown option $1" >&2; usage 2; }
                var=${own#*" $1="}
                printf -v "${var%% *}" '%s' "${2:?}"; shift 2 ;;
        esac
    done
}

# select_binary: sets BINARY (if --binary did not) and KIND (release, debug or custom). The default is
# a release build, because debug Swift is several times slower and skews the ratios.
select_binary() {
    local release="$ROOT/.build/release/coffer"
    if [ -z "$BINARY" ]; then
        if [ "$BUILD" = 1 ]; then
            (cd "$ROOT" && swift build -c release --product coffer) || die "release build failed"
        fi
        if [ -x "$release" ]; then
            BINARY=$release
            # A stale release binary silently benchmarks old code.
            if [ -n "$(find "$ROOT/Sources" -newer "$release" -name '*.swift' -print -quit)" ]; then
                echo "WARNING: Sources/ has changes newer than $release; pass --build to rebuild it." >&2
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
}
debug_warning() {  # on stderr, where a bench wants it repeated (a long output scrolls it away)
    [ "$KIND" = debug ] && echo "WARNING: ******** DEBUG BUILD: figures are NOT representative of production ********" >&2
    return 0
}

need() {  # need COMMAND PACKAGE: apt-install PACKAGE if COMMAND is missing
    command -v "$1" >/dev/null && return
    echo "installing $2 (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >&2 || die "cannot install $2"
}

# --- processes and temp dir: everything started here is stopped on any exit ---
SERVER_PID="" PIDS=()  # the Coffer server; the other servers (redis-server, mariadbd)
stop() {  # stop PID: SIGTERM, then SIGKILL after 30 s (mariadbd may need that long to shut down)
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    [ -n "$SERVER_PID" ] && stop "$SERVER_PID"
    local pid
    for pid in "${PIDS[@]}"; do stop "$pid"; done
    rm -rf "$WORK"
}
start_work() {  # start_work NAME: WORK=a fresh temp dir, removed (after stopping the servers) on exit
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM  # so that the EXIT trap runs on Ctrl-C too
}

# start_redis [REDIS-SERVER ARGS...]: a throwaway redis-server without persistence on a free port;
# sets REDIS_PORT and REDIS_PID.
start_redis() {
    REDIS_PORT=$("${HELPER[@]}" port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no "$@" --daemonize no \
        >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || { cat "$WORK/redis.log" >&2; die "redis-server did not start"; }
}

# start_server DATA_DIR LOG [SERVE ARGS...]: Coffer on a fresh port each time (no TIME_WAIT surprises),
# with the bench's admin account as the first start's bootstrap; sets PORT, ENDPOINT and SERVER_PID,
# and returns once /health answers.
start_server() {
    local data=$1 log=$2
    shift 2
    PORT=$("${HELPER[@]}" port)
    ENDPOINT="http://127.0.0.1:$PORT"
    COFFER_ADMIN_ACCESS_KEY=BENCHACCESSKEY000001 COFFER_ADMIN_SECRET_KEY=bench-secret-key-0000000000000000000000 \
    COFFER_ADMIN_PASSWORD=bench-password-1 \
        "$BINARY" serve --host 127.0.0.1 --port "$PORT" --data-dir "$data" "$@" >>"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 600); do
        curl -fsS "$ENDPOINT/health" >/dev/null 2>&1 && return
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$log" >&2; die "server exited at start (log above)"; }
        sleep 0.1
    done
    die "server not healthy after 60 s (log: $log)"
}
stop_server() { stop "$SERVER_PID"; SERVER_PID=""; }
