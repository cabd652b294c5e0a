#!/usr/bin/env python3
"""Query plans of every list query, on SQLite (EXPLAIN QUERY PLAN) and PostgreSQL (EXPLAIN).

  bench/list-backups/explain.py [POSTGRES_URL]

Builds the schema from the migrations in Sources/CofferStorage/Migrations/Migrations.swift, fills it with
synthetic rows (many projects, instances and days, so that PostgreSQL's planner sees realistic statistics),
runs ANALYZE, and prints the plan of each list query as the stores send it (parameters inlined). Without
POSTGRES_URL only SQLite is shown; with it, psql runs against that server in a scratch database.
Stdlib only; psql must be on PATH for the PostgreSQL part.
"""
import os
import random
import re
import sqlite3
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DAY = 86_400_000
HOUR = 3_600_000
NOW = 1_780_000_000_000


def total_num():
    """The count expression of a 30-day window ending NOW, as BackupCounts.Window.plan builds it (NOW is 20:26:40
    UTC): whole days, the first partial day's whole hours minus its 26:40 before the bound, today's day minus its
    hours from 20:00, plus today's 20:00–NOW from the index."""
    where = "project_id = 'p000' AND instance_id = 'p000-i0'"
    today, begin, now_hour = NOW // DAY, NOW - 30 * DAY, NOW // HOUR
    days = f"(SELECT COALESCE(SUM(records), 0) FROM dcs_backup_day_counts WHERE {where} AND day >= {today - 29} AND day <= {today})"
    hours = lambda first, last: (f"(SELECT COALESCE(SUM(records), 0) FROM dcs_backup_hour_counts WHERE {where} "
                                 f"AND hour >= {first} AND hour <= {last})")
    index = lambda low, high: f"(SELECT COUNT(*) FROM dcs_backups WHERE {where} AND created_at >= {low} AND created_at <= {high})"
    return (f"CAST({hours(begin // HOUR, (today - 29) * 24 - 1)} + {index(now_hour * HOUR, NOW)} + {days}"
            f" - {index(begin // HOUR * HOUR, begin - 1)} - {hours(now_hour, today * 24 + 23)} AS BIGINT)")


def migrations():
    """Every statement of Migrations.all, in order (triple-quoted and single-line string literals)."""
    text = open(os.path.join(ROOT, "Sources/CofferStorage/Migrations/Migrations.swift")).read()
    body = text[text.index("package static let all"):text.index("/// Applies every migration")]
    statements = []
    for block in re.finditer(r'"""\n(.*?)"""|"((?:CREATE|DROP|ALTER|INSERT)[^"\n]*)"', body, re.S):
        statements.append((block.group(1) or block.group(2)).strip())
    return statements


def rows():
    """(table, columns, values) to insert: 200 projects x 5 instances, a year of backups each."""
    rng = random.Random(7)
    out = {"dcs_instances": [], "dcs_backups": [], "jobs": [], "ddm_instances": [], "ddm_backups": []}
    for p in range(200):
        project = f"p{p:03d}"
        for i in range(5):
            inst = f"{project}-i{i}"
            out["dcs_instances"].append((inst, project, inst, "Redis", None, "127.0.0.1", 6379, None, None, None,
                                         "RUNNING", 1.0, None, None, "{}", NOW - i * DAY, NOW, None if i else NOW))
            out["ddm_instances"].append((inst, project, inst, "RUNNING", "f", 1, "e", "[]", "v", "s", "g", "UTC", None,
                                         None, NOW - i * DAY, NOW, None))
            for b in range(60 if p else 20_000):  # project p000 instance i0..4: the big one
                created = NOW - rng.randrange(365 * DAY)
                out["dcs_backups"].append((f"{inst}-b{b}", project, inst, "n", "auto", "rdb", "succeed", 10000, 1, None,
                                           None, None, 1, created, created, created, None, None))
                if b < 20:
                    out["jobs"].append((f"{inst}-j{b}", "dcs.backup" if b % 2 else "ddm.backup", project, inst,
                                        "succeeded", "{}", 1, 1, None, None, None, created, created, None, None))
                    out["ddm_backups"].append((f"{inst}-d{b}", project, inst, inst, "n", "", "metadata", "finished", 1,
                                               "[]", "[]", None, None, None, created, created))
    return out


QUERIES = [
    ("DCS backups: total_num (day and hour counts, two partial hours from the index)", f"SELECT {total_num()} AS n"),
    ("DCS backups: page, carrying total_num (same count expression as a constant column)",
     f"SELECT dcs_backups.*, {total_num()} AS total_num FROM dcs_backups WHERE project_id = 'p000' AND instance_id = 'p000-i0' "
     f"AND created_at >= {NOW - 30 * DAY} AND created_at <= {NOW} ORDER BY created_at DESC, id DESC LIMIT 10 OFFSET 0"),
    ("DCS backups: one record",
     "SELECT * FROM dcs_backups WHERE project_id = 'p000' AND instance_id = 'p000-i0' AND id = 'p000-i0-b7'"),
    ("DCS instances: count",
     "SELECT count(*) AS n FROM dcs_instances WHERE project_id = 'p007' AND deleted_at IS NULL AND status = 'RUNNING'"),
    ("DCS instances: page",
     "SELECT * FROM dcs_instances WHERE project_id = 'p007' AND deleted_at IS NULL ORDER BY created_at DESC, id LIMIT 10 OFFSET 0"),
    ("DCS instances: name filter",
     "SELECT * FROM dcs_instances WHERE project_id = 'p007' AND deleted_at IS NULL AND lower(name) LIKE '%i1%' "
     "ORDER BY created_at DESC, id LIMIT 10 OFFSET 0"),
    ("DDM backups: count (project)", "SELECT count(*) AS n FROM ddm_backups WHERE project_id = 'p007'"),
    ("DDM backups: page (project)",
     "SELECT * FROM ddm_backups WHERE project_id = 'p007' ORDER BY created_at DESC, id DESC LIMIT 10 OFFSET 0"),
    ("DDM backups: page (instance, created before)",
     f"SELECT * FROM ddm_backups WHERE project_id = 'p007' AND instance_id = 'p007-i1' AND created_at <= {NOW} "
     "ORDER BY created_at DESC, id DESC LIMIT 10 OFFSET 0"),
    ("DDM instances: page",
     "SELECT * FROM ddm_instances WHERE project_id = 'p007' AND deleted_at IS NULL ORDER BY created_at DESC, id LIMIT 10 OFFSET 0"),
    ("Jobs: count", f"SELECT count(*) AS n FROM jobs WHERE project_id = 'p007' AND substr(kind, 1, 4) = 'dcs.' "
                    f"AND created_at >= {NOW - 30 * DAY}"),
    ("Jobs: page", f"SELECT * FROM jobs WHERE project_id = 'p007' AND substr(kind, 1, 4) = 'dcs.' "
                   f"AND created_at >= {NOW - 30 * DAY} ORDER BY created_at DESC, id LIMIT 10 OFFSET 0"),
]


def sqlite_plans(statements, data):
    db = sqlite3.connect(":memory:")
    for statement in statements:
        if statement.startswith("INSERT INTO dcs_backups_typed"):
            continue  # nothing to copy in a fresh schema
        db.execute(statement)
    columns = {}
    for table, values in data.items():
        # Columns added by later migrations (nullable, at the end) stay NULL: name the ones the rows fill.
        names = columns[table] = [row[1] for row in db.execute(f"PRAGMA table_info({table})")][:len(values[0])]
        db.executemany(f"INSERT INTO {table} ({','.join(names)}) VALUES ({','.join('?' * len(values[0]))})", values)
    for table, millis in (("dcs_backup_day_counts", DAY), ("dcs_backup_hour_counts", HOUR)):
        db.execute(f"INSERT INTO {table} SELECT project_id, instance_id, created_at / {millis}, count(*) FROM dcs_backups GROUP BY 1, 2, 3")
    db.execute("ANALYZE")
    print(f"===== SQLite {sqlite3.sqlite_version}: EXPLAIN QUERY PLAN =====")
    for title, sql in QUERIES:
        print(f"-- {title}")
        for row in db.execute("EXPLAIN QUERY PLAN " + sql):
            print("   " + "  " * _depth(row, db) + row[3])
    return columns


_parents = {}


def _depth(row, db):
    _parents[row[0]] = row[1]
    depth, parent = 0, row[1]
    while parent:
        depth, parent = depth + 1, _parents.get(parent, 0)
    return depth


def postgres_plans(url, statements, data, columns):
    def psql(sql, database_url=url):
        return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", database_url], input=sql, text=True,
                              capture_output=True, check=True).stdout
    psql("DROP DATABASE IF EXISTS coffer_explain; CREATE DATABASE coffer_explain;")
    scratch = url.rsplit("/", 1)[0] + "/coffer_explain"
    script = [s + ";" for s in statements if not s.startswith("INSERT INTO dcs_backups_typed")]
    for table, values in data.items():
        script.append(f"COPY {table} ({','.join(columns[table])}) FROM STDIN;")
        script.extend("\t".join("\\N" if v is None else str(v) for v in value) for value in values)
        script.append("\\.")
    for table, millis in (("dcs_backup_day_counts", DAY), ("dcs_backup_hour_counts", HOUR)):
        script.append(f"INSERT INTO {table} SELECT project_id, instance_id, created_at / {millis}, count(*) FROM dcs_backups GROUP BY 1, 2, 3;")
    script.append("ANALYZE;")
    psql("\n".join(script), scratch)
    print(f"===== PostgreSQL {psql('SHOW server_version').strip()}: EXPLAIN (costs off) =====")
    for title, sql in QUERIES:
        print(f"-- {title}")
        for line in psql("EXPLAIN (COSTS OFF) " + sql, scratch).splitlines():
            print("   " + line)
    psql("DROP DATABASE coffer_explain")


if __name__ == "__main__":
    statements, data = migrations(), rows()
    columns = sqlite_plans(statements, data)
    if len(sys.argv) > 1:
        postgres_plans(sys.argv[1], statements, data, columns)
