#!/usr/bin/env python3
"""Python side of bench/list-backups/run.sh: the work that bash does badly.

Subcommands (stdlib only, so it runs without the project's venv):
  port                                    print a free TCP port on 127.0.0.1
  setup    ENDPOINT BOOTSTRAP REDIS_PORT  create the bench instances via the API; print their ids
  seed     DB PROJECT INSTANCE OTHER N    insert N backup records straight into SQLite
  sign     ENDPOINT BOOTSTRAP INSTANCE DB sign one list request, check it, print what wrk needs
  wrk      FILE                           parse wrk --latency output into "req/s p99_ms"
"""
import os
import random
import sqlite3
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from coffer_bench import call, die, load_account, main, parse_wrk, send, signed_request  # noqa: E402

DAY_MS = 86_400_000
WINDOW_DAYS = 30  # the list query asks for "the last 30 days": what a console user typically looks at


# --- subcommands (and `port`, from coffer_bench) ---

def cmd_setup(endpoint, bootstrap, redis_port):
    """Two instances on the same throwaway Redis: the bench one, and a neighbour whose records
    share the table and index (10% of rows) as they would on a real server."""
    account = load_account(bootstrap)
    ids = []
    for name in ("bench-01", "bench-02"):
        body = {"name": name, "engine": "Redis", "capacity": 1, "private_ip": "127.0.0.1", "port": int(redis_port)}
        status, payload = call(endpoint, account, "POST", f"/v2/{account['project_id']}/instances", body=body)
        if status != 200:
            die(f"create instance {name}: HTTP {status}: {payload}")
        ids.append(payload["instances"][0]["instance_id"])
    print(account["project_id"], *ids)


def cmd_seed(db, project, instance, other, count):
    """Bulk insert in one transaction. Rows are generated lazily (1M tuples would hold ~0.5 GB)
    and in created_at order, so the (project, instance, created_at, id) index grows at its end."""
    count = int(count)
    rng = random.Random(20241122)  # fixed seed: the same data set on every run
    now_ms = int(time.time() * 1000)
    stamps = sorted(now_ms - rng.randrange(365 * DAY_MS) for _ in range(count))  # the last 365 days

    def rows():
        for created in stamps:
            inst = other if rng.random() < 0.10 else instance
            bid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            auto = rng.random() < 0.9  # mostly daily policy backups, some manual ones
            roll = rng.random()
            status = "succeed" if roll < 0.95 else "failed" if roll < 0.98 else "expired"
            ok = status != "failed"
            yield (bid, project, inst, "backup_" + time.strftime("%Y%m%d%H%M%S", time.gmtime(created // 1000)),
                   "auto" if auto else "manual", "rdb", status, 10_000 if ok else 0,  # hundredths of a percent
                   rng.randrange(1 << 20, 1 << 31) if ok else 0,
                   None if auto else "before maintenance", None if ok else "dcs.08.0001",
                   "02:00-03:00" if auto else None, 1 if status == "succeed" else 0,
                   created, created + rng.randrange(5_000, 300_000), created if auto else None,
                   f"dcs/{project}/{inst}/{bid}.rdb" if ok else None, f"{rng.getrandbits(256):064x}" if ok else None)

    started = time.time()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")   # scratch data: durability buys nothing here
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the random-UUID primary key index stays in memory
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO dcs_backups (id, project_id, instance_id, name, backup_type, backup_format, status,"
                     " progress, size, remark, error_code, period, is_support_restore, created_at, updated_at,"
                     " execution_at, blob_key, sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())
    # The server keeps per-day and per-hour counts in the inserting transaction; a bulk insert behind its back must
    # add them itself (the same aggregates as migrations 0006's and 0150's backfills), or total_num would miss these rows.
    for table, column, millis in (("dcs_backup_day_counts", "day", 86_400_000), ("dcs_backup_hour_counts", "hour", 3_600_000)):
        conn.execute(f"INSERT INTO {table} (project_id, instance_id, {column}, records)"
                     f" SELECT project_id, instance_id, created_at / {millis}, count(*) FROM dcs_backups"
                     f" WHERE project_id = ? GROUP BY project_id, instance_id, created_at / {millis}"
                     f" ON CONFLICT (project_id, instance_id, {column}) DO UPDATE SET records = records + excluded.records",
                     (project,))
    conn.execute("COMMIT")
    # Fold the WAL into the main file so the restarted server opens a settled database.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(f"{time.time() - started:.1f}")


def cmd_sign(endpoint, bootstrap, instance, db):
    """Signs the list request once (valid ±15 min: wrk replays it), checks it answers 200 with a full
    page whose total matches SQLite, and prints URL and the three headers, one per line."""
    account = load_account(bootstrap)
    end = int(time.time())
    begin = end - WINDOW_DAYS * 86_400
    fmt = lambda t: time.strftime("%Y%m%d%H%M%S", time.gmtime(t))
    query = [("begin_time", fmt(begin)), ("end_time", fmt(end)), ("limit", 10), ("offset", 0)]
    path = f"/v2/{account['project_id']}/instances/{instance}/backups"
    url, headers, _ = signed_request(endpoint, account, "GET", path, query)
    status, payload = send("GET", url, headers)  # the very request that wrk replays
    if status != 200:
        die(f"signed list request: HTTP {status}: {payload}")
    records = payload.get("backup_record_response") or []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:  # WAL: safe beside the running server
        expected = conn.execute("SELECT count(*) FROM dcs_backups WHERE project_id = ? AND instance_id = ?"
                                " AND created_at BETWEEN ? AND ?",
                                (account["project_id"], instance, begin * 1000, end * 1000 + 999)).fetchone()[0]
    problems = []
    if len(records) != 10:
        problems.append(f"{len(records)} records, expected 10")
    if payload.get("total_num") != expected:
        problems.append(f"total_num {payload.get('total_num')}, SQLite counts {expected} in the window")
    stamps = [r.get("created_at", "") for r in records]
    if stamps != sorted(stamps, reverse=True) or any(r.get("instance_id") != instance for r in records):
        problems.append("page not newest-first or not all of the bench instance")
    if problems:
        die("signed list request answered 200 but: " + "; ".join(problems))
    print(url)
    for name in ("Host", "X-Sdk-Date", "Authorization"):
        print(f"{name}: {headers[name]}")
    print(expected)


def cmd_wrk(path):
    """A run with any non-2xx answer measured the error path, not the route, so it is rejected; socket errors
    (timeouts under overload) are worth seeing, not fatal."""
    rps, p99, non2xx, sockets, text = parse_wrk(path)
    if non2xx:
        die(f"wrk got error responses, so it did not measure the route:\n{text}")
    if sockets:
        print(f"WARNING: wrk counted {sockets} socket errors ({path})", file=sys.stderr)
    print(f"{rps:.0f} {p99:.2f}")

if __name__ == "__main__":
    main(__doc__, setup=cmd_setup, seed=cmd_seed, sign=cmd_sign, wrk=cmd_wrk)
