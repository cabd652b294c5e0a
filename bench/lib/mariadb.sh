# MariaDB data nodes for the DDM benches (sourced after common.sh and start_work).
#
#   need_mariadb_tools TOOL...      every tool on PATH (adds /usr/sbin), or die
#   start_mariadb_nodes N [ARG...]  N mariadbd servers from one template datadir, binary logging on (ROW),
#                                   each with its own datadir, socket, random loopback port and server id;
#                                   extra ARGs go to every mariadbd. Sets PORTS; waits until all answer.
#   sql PORT STATEMENT              one statement as $USER_NAME (batch output, no column names)
#
# Needs USER_NAME and PASSWORD (the account created on every node) and HELPER (for free ports).

need_mariadb_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin"
        command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps installs it)"
    done
}

sql() {  # sql PORT STATEMENT
    mariadb --protocol=TCP -h127.0.0.1 -P"$1" -u"$USER_NAME" -p"$PASSWORD" -N -B -e "$2"
}

start_mariadb_nodes() {  # start_mariadb_nodes N [MARIADBD-ARG...]
    local count=$1 i dir port root_args=()
    shift
    [ "$(id -u)" -eq 0 ] && root_args=(--user=root)
    mariadb-install-db --no-defaults --datadir="$WORK/template" --auth-root-authentication-method=normal --skip-test-db \
        "${root_args[@]}" >"$WORK/install.log" 2>&1 || { tail "$WORK/install.log" >&2; die "mariadb-install-db failed"; }
    PORTS=()
    for i in $(seq 0 $((count - 1))); do
        dir="$WORK/node$i"
        mkdir -p "$dir"
        cp -a "$WORK/template" "$dir/data"
        printf "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';\nGRANT ALL PRIVILEGES ON *.* TO '%s'@'%%';\n" \
            "$USER_NAME" "$PASSWORD" "$USER_NAME" >"$dir/init.sql"
        port=$("${HELPER[@]}" port)
        mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/sock" --port="$port" --bind-address=127.0.0.1 \
            --skip-name-resolve --init-file="$dir/init.sql" --innodb-buffer-pool-size=256M --innodb-log-file-size=256M \
            --log-bin="$dir/data/binlog" --server-id=$((i + 1)) --binlog-format=ROW --log-error="$dir/error.log" --tmpdir="$dir" \
            "${root_args[@]}" "$@" >/dev/null 2>&1 &
        PIDS+=($!)
        PORTS+=("$port")
    done
    for port in "${PORTS[@]}"; do
        for _ in $(seq 300); do sql "$port" "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done
        sql "$port" "SELECT 1" >/dev/null || die "mariadbd on $port did not start"
    done
}
