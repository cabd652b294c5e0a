#!/usr/bin/env python3
"""Helper of bench/ddm-restore/run.sh (stdlib only): signed calls to Coffer's DDM API.

    helper.py port
    helper.py setup ENDPOINT BOOTSTRAP PORTS USER PASSWORD  → "source target node_id..." (data nodes; source instance,
                                                              schema `bench` on the first half; target instance,
                                                              schema `landing` on the second half)
    helper.py backup ENDPOINT BOOTSTRAP INSTANCE            → the backup id, once its job is Completed
    helper.py files DB BACKUP BLOBS                         → per source node "node_id blob_path binlog_file position"
    helper.py reach ENDPOINT BOOTSTRAP INSTANCE T_MS        → waits until a restorable window reaches T_MS
    helper.py recover ENDPOINT BOOTSTRAP SOURCE TARGET T_MS RELATIONS
                                                            → "<wall s> <point>" of a recovery (RELATIONS: s:t,s:t)
"""

import calendar
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from coffer_bench import call, die, load_account, main, register_data_nodes  # noqa: E402


def wait_job(endpoint, acct, job_id, poll=0.05, timeout=3600):
    p = acct["project_id"]
    deadline = time.monotonic() + timeout
    while True:
        status, body = call(endpoint, acct, "GET", f"/v3/{p}/jobs/{job_id}")
        status == 200 or die(f"job {job_id}: {status} {body}")
        if body["job"]["status"] != "Running":
            return body["job"]
        time.monotonic() < deadline or die(f"job {job_id} still running after {timeout} s")
        time.sleep(poll)


def instance_with_schema(endpoint, acct, name, schema, nodes, user, password):
    p = acct["project_id"]
    status, body = call(endpoint, acct, "POST", f"/v1/{p}/instances", body={"instance": {
        "name": name, "flavor_id": "f", "node_num": 1, "engine_id": "e", "available_zones": ["az1"],
        "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}})
    status == 200 or die(f"instance: {status} {body}")
    instance = body["id"]
    used = [{"id": n, "adminUser": user, "adminPassword": password} for n in nodes]
    status, body = call(endpoint, acct, "POST", f"/v1/{p}/instances/{instance}/databases",
                        body={"databases": [{"name": schema, "shard_mode": "cluster", "shard_number": len(nodes), "used_rds": used}]})
    status == 200 or die(f"schema: {status} {body}")
    return instance


def cmd_setup(endpoint, bootstrap, ports, user, password):
    acct = load_account(bootstrap)
    nodes = register_data_nodes(endpoint, acct, ports)
    half = len(nodes) // 2
    source = instance_with_schema(endpoint, acct, "bench-source", "bench", nodes[:half], user, password)
    target = instance_with_schema(endpoint, acct, "bench-target", "landing", nodes[half:], user, password)
    print(source, target, *nodes)


def cmd_backup(endpoint, bootstrap, instance):
    acct = load_account(bootstrap)
    status, body = call(endpoint, acct, "POST", f"/v3/{acct['project_id']}/instances/{instance}/backups")
    status == 202 or die(f"backup: {status} {body}")
    job = wait_job(endpoint, acct, body["job_id"])
    job["status"] == "Completed" or die(f"backup job ended {job['status']}: {job}")
    print(body["backup_id"])


def cmd_files(db, backup_id, blobs):
    with sqlite3.connect(db) as conn:
        (files,) = conn.execute("SELECT files FROM ddm_backups WHERE id = ?", (backup_id,)).fetchone()
    seen = set()
    for f in json.loads(files):
        if f["nodeID"] in seen:
            continue
        seen.add(f["nodeID"])
        path = os.path.join(blobs, "objects", f["blobKey"])
        os.path.exists(path) or die(f"no blob at {path}")
        print(f["nodeID"], path, f["binlogFile"], f["binlogPosition"])


def cmd_reach(endpoint, bootstrap, instance, t_ms):
    acct = load_account(bootstrap)
    deadline = time.monotonic() + 180
    while True:
        status, body = call(endpoint, acct, "GET", f"/v3/{acct['project_id']}/instances/{instance}/backups/restorable-time-interval")
        status == 200 or die(f"windows: {status} {body}")
        ends = [calendar.timegm(time.strptime(w["end_time"], "%Y-%m-%dT%H:%M:%S%z")) * 1000
                for w in body.get("restorable_time_intervals") or []]
        if any(end >= int(t_ms) for end in ends):
            return
        time.monotonic() < deadline or die(f"the archive did not reach {t_ms} within 180 s: {body}")
        time.sleep(0.5)


def cmd_recover(endpoint, bootstrap, source, target, t_ms, relations):
    acct = load_account(bootstrap)
    pairs = [r.split(":") for r in relations.split(",")]
    started = time.monotonic()
    status, body = call(endpoint, acct, "POST", f"/v3/{acct['project_id']}/instances/{source}/backups/recovery", body={
        "source": {"restore_time": int(t_ms)}, "target": {"instance_id": target},
        "data_node_relations": [{"source_instance_id": s, "target_instance_id": t} for s, t in pairs]})
    status == 202 or die(f"recovery: {status} {body}")
    job = wait_job(endpoint, acct, body["job_id"])
    wall = time.monotonic() - started
    job["status"] == "Completed" or die(f"recovery job ended {job['status']}: {job}")
    status, raw = call(endpoint, acct, "GET", f"/v3/{acct['project_id']}/jobs/{body['job_id']}")
    print(f"{wall:.3f} {raw['job'].get('result', {}).get('point', '?')}")


if __name__ == "__main__":
    main(__doc__, setup=cmd_setup, backup=cmd_backup, files=cmd_files, reach=cmd_reach, recover=cmd_recover)
