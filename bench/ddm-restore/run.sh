#!/usr/bin/env bash
# Benchmark: a Coffer DDM recovery to a point in time (POST …/backups/recovery → job Completed) of 2 source data
# nodes into 2 target nodes, against the same work run by hand on the same target nodes: for each node,
# `zstd -dc <the backup's dump> | mariadb` and then `TZ=UTC mariadb-binlog --disable-log-bin --start-position=<cut>
# --stop-datetime=<T> <the source's binlogs> | mariadb`, node after node as Coffer does. Prints both wall times
# and their ratio (issue 9's goal: ≤ 1.2).
#
#   bench/ddm-restore/run.sh [--binary PATH] [--build] [--rows 1000000] [--extra 100000]
#
#   --rows R    rows per source node before the backup (an `orders` table), default 1000000
#   --extra E   rows per node written after the backup and before T (the replay's work), default 100000
#
# Needs mariadb-server, mariadb-client, zstd, curl, python3 (stdlib only).
set -euo pipefail
shopt -s inherit_errexit

source "$(dirname "$0")/../lib/common.sh"  # die, parse_options, select_binary, start_server, ...
source "$(dirname "$0")/../lib/mariadb.sh"  # need_mariadb_tools, start_mariadb_nodes, sql
ROWS=1000000 EXTRA=100000
USER_NAME=coffer PASSWORD=Bench-pw-0001
parse_options "--rows=ROWS --extra=EXTRA" "$@"
select_binary
need_mariadb_tools mariadbd mariadb-install-db mariadb-binlog mariadb zstd curl
start_work coffer-ddm-restore-bench

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# --- four data nodes (binary logging on): 0 and 1 the sources, 2 and 3 the targets ---
start_mariadb_nodes 4
client() {  # client PORT: the mysql client Coffer's loader runs, reading stdin
    MYSQL_PWD=$PASSWORD mariadb --protocol=TCP -h127.0.0.1 -P"$1" -u"$USER_NAME" --batch --default-character-set=utf8mb4 \
        --max-allowed-packet=1G
}

# --- Coffer: data nodes, source instance (schema `bench`: bench_0000 on node 0, bench_0001 on node 1), target ---
DATA="$WORK/coffer"
mkdir -p "$DATA"
start_server "$DATA" "$WORK/coffer.log" --log-level warning
read -r SOURCE TARGET N0 N1 N2 N3 <<<"$("${HELPER[@]}" setup "$ENDPOINT" "$DATA/bootstrap.json" "$(IFS=,; echo "${PORTS[*]}")" "$USER_NAME" "$PASSWORD")"

echo "coffer bench: DDM recovery to a point in time, 2 nodes × $ROWS rows + $EXTRA replayed   binary: $BINARY"
echo "NOTE: $(nproc) core(s); load average before loading: $(cut -d' ' -f1 /proc/loadavg)"
insert() {  # insert NODE FROM TO: rows FROM..TO of bench_000NODE.orders
    sql "${PORTS[$1]}" "INSERT INTO bench_000$1.orders SELECT seq, seq % 10007, CONCAT('SKU-', seq % 997), seq % 20,
        (seq % 10000) / 100, '2026-01-01' + INTERVAL (seq % 8640000) SECOND, CONCAT(MD5(seq), ' ', SUBSTR(MD5(seq * 7), 1, seq % 24))
        FROM bench_000$1.seq_$2_to_$3"
}
T0=$(now)
LOADERS=()
for i in 0 1; do
    sql "${PORTS[$i]}" "CREATE TABLE bench_000$i.orders (id INT PRIMARY KEY, customer_id INT, sku VARCHAR(32), qty SMALLINT,
        price DECIMAL(10,2), created_at DATETIME, note VARCHAR(200), KEY (customer_id)) ENGINE=InnoDB"
    insert "$i" 1 "$ROWS" &
    LOADERS+=($!)
done
for pid in "${LOADERS[@]}"; do wait "$pid" || die "loading failed"; done
echo "loaded in $(elapsed "$T0" "$(now)") s"

# --- backup, then the replay's rows, T, a destructive DELETE after T, one more write so the archive passes T ---
BACKUP=$("${HELPER[@]}" backup "$ENDPOINT" "$DATA/bootstrap.json" "$SOURCE")
sleep 1
for i in 0 1; do insert "$i" $((ROWS + 1)) $((ROWS + EXTRA)); done
sleep 1.2
T_MS=$(python3 -c 'import time; print(int(time.time() * 1000))')
sleep 1.2
for i in 0 1; do sql "${PORTS[$i]}" "DELETE FROM bench_000$i.orders WHERE id % 2 = 0; FLUSH BINARY LOGS"; done
"${HELPER[@]}" reach "$ENDPOINT" "$DATA/bootstrap.json" "$SOURCE" "$T_MS" || {
    tail -20 "$WORK/coffer.log" >&2
    sqlite3 "$DATA/coffer.sqlite" "SELECT node_id, state, detail FROM ddm_binlog_nodes" >&2 2>/dev/null || true
    die "the binlog archive did not reach T"
}
EXPECTED=$((ROWS + EXTRA))
STOP=$(TZ=UTC date -d "@$((T_MS / 1000))" '+%Y-%m-%d %H:%M:%S')

# --- by hand, on the target nodes: dump, then the binlog from the cut up to T (whole second, as Coffer) ---
mapfile -t FILES < <("${HELPER[@]}" files "$DATA/coffer.sqlite" "$BACKUP" "$DATA/blobs")
T0=$(now)
for i in 0 1; do
    read -r node blob file position <<<"${FILES[$i]}"
    src=$([ "$node" = "$N0" ] && echo 0 || echo 1)
    dst=$((src + 2))
    zstd -dc "$blob" | client "${PORTS[$dst]}"
    binlogs=()
    for f in $(ls "$WORK/node$src/data"/binlog.[0-9]* | sort); do
        [[ "$(basename "$f")" < "$file" ]] || binlogs+=("$f")
    done
    TZ=UTC mariadb-binlog --disable-log-bin --start-position="$position" --stop-datetime="$STOP" "${binlogs[@]}" | client "${PORTS[$dst]}"
done
HAND_S=$(elapsed "$T0" "$(now)")
for dst in 2 3; do
    got=$(sql "${PORTS[$dst]}" "SELECT COUNT(*) FROM bench_000$((dst - 2)).orders")
    [ "$got" = "$EXPECTED" ] || die "by hand: node $dst holds $got rows, expected $EXPECTED"
    sql "${PORTS[$dst]}" "DROP DATABASE bench_000$((dst - 2))"
done
echo "by hand (zstd -dc | mariadb, then mariadb-binlog | mariadb, node after node): ${HAND_S} s"

# --- Coffer: the same recovery through the API ---
read -r COFFER_S POINT <<<"$("${HELPER[@]}" recover "$ENDPOINT" "$DATA/bootstrap.json" "$SOURCE" "$TARGET" "$T_MS" "$N0:$N2,$N1:$N3")"
for dst in 2 3; do
    got=$(sql "${PORTS[$dst]}" "SELECT COUNT(*) FROM bench_000$((dst - 2)).orders")
    [ "$got" = "$EXPECTED" ] || die "coffer: node $dst holds $got rows, expected $EXPECTED"
done
echo "coffer recovery ($POINT, POST → Completed): ${COFFER_S} s"
echo
echo "== summary (2 nodes × $ROWS rows + $EXTRA replayed, $(nproc) cores) =="
printf '%-48s %8s s\n' "by hand: dump load + binlog replay" "$HAND_S" "coffer recovery" "$COFFER_S"
echo "ratio coffer / by hand = $(awk -v a="$COFFER_S" -v b="$HAND_S" 'BEGIN { printf "%.2f", a / b }')  (goal ≤ 1.2)"
