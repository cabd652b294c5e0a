#!/usr/bin/env python3
"""Helper of bench/ddm-backup/run.sh (stdlib only): signed calls to Coffer's DDM API.

    helper.py port
    helper.py setup ENDPOINT BOOTSTRAP PORTS USER PASSWORD   → instance id (data nodes, instance, schema `bench`)
    helper.py backup ENDPOINT BOOTSTRAP INSTANCE DB          → "<wall s> <job run s> <bytes>" of one backup
"""

import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from coffer_bench import call, die, load_account, main, register_data_nodes  # noqa: E402


# --- subcommands (and `port`, from coffer_bench) ---

def cmd_setup(endpoint, bootstrap, ports, user, password):
    acct = load_account(bootstrap)
    p = acct["project_id"]
    nodes = register_data_nodes(endpoint, acct, ports)
    status, body = call(endpoint, acct, "POST", f"/v1/{p}/instances", body={"instance": {
        "name": "bench-ddm", "flavor_id": "f", "node_num": 1, "engine_id": "e", "available_zones": ["az1"],
        "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}})
    status == 200 or die(f"instance: {status} {body}")
    instance = body["id"]
    used = [{"id": n, "adminUser": user, "adminPassword": password} for n in nodes]
    status, body = call(endpoint, acct, "POST", f"/v1/{p}/instances/{instance}/databases",
                        body={"databases": [{"name": "bench", "shard_mode": "cluster", "shard_number": len(nodes), "used_rds": used}]})
    status == 200 or die(f"schema: {status} {body}")
    print(instance)


def cmd_backup(endpoint, bootstrap, instance, db):
    acct = load_account(bootstrap)
    p = acct["project_id"]
    started = time.monotonic()
    status, body = call(endpoint, acct, "POST", f"/v3/{p}/instances/{instance}/backups")
    status == 202 or die(f"backup: {status} {body}")
    job_id, backup_id = body["job_id"], body["backup_id"]
    while True:
        status, body = call(endpoint, acct, "GET", f"/v3/{p}/jobs/{job_id}")
        if body["job"]["status"] != "Running":
            break
        time.sleep(0.02)
    wall = time.monotonic() - started
    body["job"]["status"] == "Completed" or die(f"backup job ended {body['job']['status']}")
    with sqlite3.connect(db) as conn:
        started_at, finished_at = conn.execute("SELECT started_at, finished_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
        size = conn.execute("SELECT size FROM ddm_backups WHERE id = ?", (backup_id,)).fetchone()[0]
    print(f"{wall:.3f} {(finished_at - started_at) / 1000:.3f} {size}")


if __name__ == "__main__":
    main(__doc__, setup=cmd_setup, backup=cmd_backup)
