#!/usr/bin/env bash
# Benchmark: a Coffer DDM backup (consistent cut + parallel `mariadb-dump | zstd -3` of every data node) against
# the slowest single `mariadb-dump --single-transaction | zstd -3` of one node, the fastest standard pipeline
# (reference mysql-consistent-backup.md §5). Prints both wall times and their ratio (goal ≤ 1.3).
#
#   bench/ddm-backup/run.sh [--binary PATH] [--build] [--nodes 4] [--rows 1000000] [--runs 2]
#
#   --binary PATH   coffer binary to test (default: .build/release/coffer; see --build)
#   --build         run `swift build -c release --product coffer` first (incremental) and use it
#   --nodes N       data nodes (mariadbd servers), default 4
#   --rows R        rows per node (an `orders` table of §5's shape), default 1000000
#   --runs K        Coffer backups measured (the best is reported), default 2
#
# Needs mariadb-server, mariadb-client, zstd, curl, python3 (stdlib only).
set -euo pipefail
shopt -s inherit_errexit

source "$(dirname "$0")/../lib/common.sh"  # die, parse_options, select_binary, start_server, ...
source "$(dirname "$0")/../lib/mariadb.sh"  # need_mariadb_tools, start_mariadb_nodes, sql
NODES=4 ROWS=1000000 RUNS=2
USER_NAME=coffer PASSWORD=Bench-pw-0001
parse_options "--nodes=NODES --rows=ROWS --runs=RUNS" "$@"
select_binary
need_mariadb_tools mariadbd mariadb-install-db mariadb-dump mariadb zstd curl

start_work coffer-ddm-bench

now() { date +%s.%N; }
TICKS=$(getconf CLK_TCK)
cpu_of() {  # cpu_of PID...: CPU seconds (user+sys, plus reaped children) of the processes so far
    local total=0 pid
    for pid in "$@"; do
        total=$(awk -v t="$total" -v hz="$TICKS" '{ sub(/^.*\) /, ""); print t + ($12 + $13 + $14 + $15) / hz }' "/proc/$pid/stat")
    done
    echo "$total"
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# --- data nodes: one template datadir, copied per node ---
start_mariadb_nodes "$NODES"

# --- Coffer: data nodes, instance, schema `bench` (one shard per node: bench_0000 on node 0, …) ---
DATA="$WORK/coffer"
mkdir -p "$DATA"
start_server "$DATA" "$WORK/coffer.log" --log-level warning
INSTANCE=$("${HELPER[@]}" setup "$ENDPOINT" "$DATA/bootstrap.json" "$(IFS=,; echo "${PORTS[*]}")" "$USER_NAME" "$PASSWORD")

echo "coffer bench: DDM backup of $NODES nodes × $ROWS rows   binary: $BINARY"
echo "NOTE: $(nproc) core(s); load average before loading: $(cut -d' ' -f1 /proc/loadavg)"
T0=$(now)
LOADERS=()
for i in $(seq 0 $((NODES - 1))); do
    sql "${PORTS[$i]}" "
      CREATE TABLE bench_000$i.orders (id INT PRIMARY KEY, customer_id INT, sku VARCHAR(32), qty SMALLINT,
        price DECIMAL(10,2), created_at DATETIME, note VARCHAR(200), KEY (customer_id)) ENGINE=InnoDB;
      INSERT INTO bench_000$i.orders SELECT seq, seq % 10007, CONCAT('SKU-', seq % 997), seq % 20, (seq % 10000) / 100,
        '2026-01-01' + INTERVAL (seq % 8640000) SECOND, CONCAT(MD5(seq), ' ', SUBSTR(MD5(seq * 7), 1, seq % 24))
        FROM bench_000$i.seq_1_to_$ROWS;" &
    LOADERS+=($!)
done
for pid in "${LOADERS[@]}"; do wait "$pid" || die "loading failed"; done
echo "loaded in $(elapsed "$T0" "$(now)") s"

# --- baseline: each node alone, `mariadb-dump --single-transaction | zstd -3 > file`, one after the other ---
SLOWEST=0 SUM=0 SINGLE_CPU=0
for i in $(seq 0 $((NODES - 1))); do
    c0=$(cpu_of "${PIDS[$i]}")
    t=$(now)
    TIMEFORMAT='%U %S'
    { time (MYSQL_PWD=$PASSWORD mariadb-dump --protocol=TCP -h127.0.0.1 -P"${PORTS[$i]}" -u"$USER_NAME" --single-transaction \
        --quick --skip-dump-date --databases "bench_000$i" | zstd -3 -q >"$WORK/baseline-$i.sql.zst") ; } 2>"$WORK/time.txt"
    s=$(elapsed "$t" "$(now)")
    cpu=$(awk -v a="$(cpu_of "${PIDS[$i]}")" -v b="$c0" '{ printf "%.2f", $1 + $2 + a - b }' "$WORK/time.txt")
    SINGLE_CPU=$(awk -v a="$SINGLE_CPU" -v b="$cpu" 'BEGIN { print a + b }')
    echo "single dump node $i: ${s} s, ${cpu} CPU-s (dump + zstd + server) ($(stat -c %s "$WORK/baseline-$i.sql.zst") bytes compressed)"
    SLOWEST=$(awk -v a="$SLOWEST" -v b="$s" 'BEGIN { print (b > a ? b : a) }')
    SUM=$(awk -v a="$SUM" -v b="$s" 'BEGIN { print a + b }')
done

# --- Coffer: the whole consistent backup of all nodes, through the API ---
BEST=""
for r in $(seq 1 "$RUNS"); do
    c0=$(cpu_of "$SERVER_PID" "${PIDS[@]}")
    read -r WALL JOB BYTES <<<"$("${HELPER[@]}" backup "$ENDPOINT" "$DATA/bootstrap.json" "$INSTANCE" "$DATA/coffer.sqlite")"
    cpu=$(awk -v a="$(cpu_of "$SERVER_PID" "${PIDS[@]}")" -v b="$c0" 'BEGIN { printf "%.2f", a - b }')
    echo "coffer backup run $r: ${WALL} s from POST to Completed (job ran ${JOB} s), ${cpu} CPU-s (coffer + dumps + zstd + servers), ${BYTES} bytes"
    BEST=$(awk -v a="${BEST:-1e9}" -v b="$JOB" 'BEGIN { print (b < a ? b : a) }')
done
echo
echo "== summary ($NODES nodes × $ROWS rows, $(nproc) cores) =="
printf '%-44s %8s s\n' "slowest single dump | zstd -3" "$SLOWEST" "sum of the single dumps (serial)" "$SUM" \
    "coffer backup of all nodes (best job time)" "$BEST"
echo "ratio coffer / slowest single = $(awk -v a="$BEST" -v b="$SLOWEST" 'BEGIN { printf "%.2f", a / b }')"
echo "ratio coffer / sum of singles = $(awk -v a="$BEST" -v b="$SUM" 'BEGIN { printf "%.2f", a / b }')"
echo "CPU of the $NODES single pipelines: ${SINGLE_CPU} CPU-s; on $(nproc) cores no schedule of them ends before" \
    "$(awk -v c="$SINGLE_CPU" -v n="$(nproc)" 'BEGIN { printf "%.2f", c / n }') s (the ratio goal needs ≥ $(awk -v c="$SINGLE_CPU" -v s="$SLOWEST" 'BEGIN { printf "%.0f", c / (1.3 * s) + 0.5 }') cores)"
