#!/usr/bin/env python3
"""Helper of bench/ddm-backup/run.sh (stdlib only): signed calls to Coffer's DDM API.

    helper.py port
    helper.py setup ENDPOINT BOOTSTRAP PORTS USER PASSWORD   → instance id (data nodes, instance, schema `bench`)
    helper.py backup ENDPOINT BOOTSTRAP INSTANCE DB          → "<wall s> <job run s> <bytes>" of one backup
"""

import hashlib
import hmac
import json
import socket
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit


def die(message):
    sys.exit(f"helper.py: {message}")


def sign(method, host, path, query_pairs, ak, sk, sdk_date, body=b""):
    """SDK-HMAC-SHA256 with the header set host;x-sdk-date (reference huawei-api.md 5.2/5.3)."""
    uri = "/".join(quote(s, safe="~") for s in path.split("/"))
    uri = uri if uri.endswith("/") else uri + "/"
    query = "&".join(f"{quote(k, safe='~')}={quote(str(v), safe='~')}" for k, v in sorted(query_pairs))
    headers = f"host:{host}\nx-sdk-date:{sdk_date}\n"
    creq = "\n".join([method, uri, query, headers, "host;x-sdk-date", hashlib.sha256(body).hexdigest()])
    sts = f"SDK-HMAC-SHA256\n{sdk_date}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    sig = hmac.new(sk.encode(), sts.encode(), hashlib.sha256).hexdigest()
    return query, f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders=host;x-sdk-date, Signature={sig}"


def call(endpoint, account, method, path, body=None):
    host = urlsplit(endpoint).netloc
    sdk_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    data = json.dumps(body).encode() if body is not None else b""
    _, auth = sign(method, host, path, [], account["access_key"], account["secret_key"], sdk_date, data)
    req = urllib.request.Request(f"{endpoint}{path}", data=data or None, method=method,
                                 headers={"Host": host, "X-Sdk-Date": sdk_date, "Authorization": auth,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    return status, (json.loads(text) if text else None)


def account(bootstrap):
    with open(bootstrap) as f:
        return json.load(f)


def cmd_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_setup(endpoint, bootstrap, ports, user, password):
    acct = account(bootstrap)
    p = acct["project_id"]
    nodes = []
    for i, port in enumerate(ports.split(",")):
        status, body = call(endpoint, acct, "POST", f"/v3/{p}/data-nodes",
                            {"name": f"bench-dn-{i}", "private_ip": "127.0.0.1", "port": int(port)})
        status == 201 or die(f"data node: {status} {body}")
        nodes.append(body["id"])
    status, body = call(endpoint, acct, "POST", f"/v1/{p}/instances", {"instance": {
        "name": "bench-ddm", "flavor_id": "f", "node_num": 1, "engine_id": "e", "available_zones": ["az1"],
        "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}})
    status == 200 or die(f"instance: {status} {body}")
    instance = body["id"]
    used = [{"id": n, "adminUser": user, "adminPassword": password} for n in nodes]
    status, body = call(endpoint, acct, "POST", f"/v1/{p}/instances/{instance}/databases",
                        {"databases": [{"name": "bench", "shard_mode": "cluster", "shard_number": len(nodes), "used_rds": used}]})
    status == 200 or die(f"schema: {status} {body}")
    print(instance)


def cmd_backup(endpoint, bootstrap, instance, db):
    acct = account(bootstrap)
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
    commands = {"port": cmd_port, "setup": cmd_setup, "backup": cmd_backup}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        die(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
