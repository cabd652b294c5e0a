#!/usr/bin/env python3
"""Python side of bench/cluster-backup/run.sh (stdlib only).

Subcommands:
  port                                              print a free TCP port on 127.0.0.1
  resp     MASTER_SLOTS KEYS VALUE_BYTES           write, for the master owning MASTER_SLOTS ("a-b,c-d"), KEYS
                                                    `SET` commands (RESP) of keys in those slots to stdout
  masters  PORT                                    print one line per master from CLUSTER SLOTS: "port a-b[,c-d]"
  setup    ENDPOINT BOOTSTRAP PORT                 adopt the cluster through PORT as instance bench-cluster;
                                                    print "project instance"
  rediscli FILE_PREFIX PORT...                     time `redis-cli --rdb` against every PORT at once (all started
                                                    together, wall = until the last ends); print "wall_s bytes cpu_s"
  coffer   ENDPOINT BOOTSTRAP INSTANCE SERVER_PID  time one Coffer backup (POST → record succeed), check it has one shard
                                                    per master, delete it; print "wall_s bytes cpu_s" (the server's CPU)
  summary  ROWS                                    medians of each tool and the ratio coffer / redis-cli
"""
import datetime
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from coffer_bench import call, die, load_account, main  # noqa: E402

POLL_S = 0.05


def crc16(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def cmd_resp(master_slots, keys, value_bytes):
    """Keys `k:<n>` whose slot is in the master's ranges, until KEYS of them; random values in 4 MiB slabs."""
    ranges = [tuple(int(x) for x in part.split("-")) for part in master_slots.split(",")]
    owned = bytearray(16384)
    for start, end in ranges:
        for slot in range(start, end + 1):
            owned[slot] = 1
    keys, value_bytes = int(keys), int(value_bytes)
    out = sys.stdout.buffer
    vlen = b"$%d\r\n" % value_bytes
    n = written = 0
    while written < keys:
        batch = min(max(1, (4 << 20) // value_bytes), keys - written)
        pool = os.urandom(batch * value_bytes)
        parts = []
        taken = 0
        while taken < batch:
            key = b"k:%d" % n
            n += 1
            if not owned[crc16(key) & 0x3FFF]:
                continue
            parts += [b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n" % (len(key), key), vlen,
                      pool[taken * value_bytes:(taken + 1) * value_bytes], b"\r\n"]
            taken += 1
        written += taken
        out.write(b"".join(parts))
    out.flush()


def resp_command(port, *args):
    """One command over a fresh connection (a minimal RESP client: the bench needs no redis package)."""
    import socket
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as sock:
        payload = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
        sock.sendall(payload)
        reader = sock.makefile("rb")

        def read():
            line = reader.readline()
            kind, rest = line[:1], line[1:-2]
            if kind == b"*":
                return [read() for _ in range(int(rest))]
            if kind == b"$":
                if int(rest) < 0:
                    return None
                data = reader.read(int(rest) + 2)[:-2]
                return data.decode()
            if kind == b":":
                return int(rest)
            if kind == b"-":
                die(f"redis {port}: {rest.decode()}")
            return rest.decode()
        return read()


def cmd_masters(port):
    ranges = {}
    for start, end, master, *_ in resp_command(port, "CLUSTER", "SLOTS"):
        ranges.setdefault(master[1], []).append(f"{start}-{end}")
    for master_port, slots in sorted(ranges.items()):
        print(master_port, ",".join(slots))


def cmd_setup(endpoint, bootstrap, port):
    account = load_account(bootstrap)
    body = {"name": "bench-cluster", "engine": "Redis", "capacity": 1, "private_ip": "127.0.0.1", "port": int(port)}
    status, payload = call(endpoint, account, "POST", f"/v2/{account['project_id']}/instances", body=body)
    if status != 200:
        die(f"create instance: HTTP {status}: {payload}")
    print(account["project_id"], payload["instances"][0]["instance_id"])


def proc_cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cmd_rediscli(prefix, *ports):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    procs = [subprocess.Popen(["redis-cli", "-p", port, "--rdb", f"{prefix}-{port}.rdb"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for port in ports]
    outputs = [p.communicate()[0] for p in procs]
    wall = time.monotonic() - started
    size = 0
    for port, proc, output in zip(ports, procs, outputs):
        if proc.returncode != 0 or "Transfer finished with success" not in output:
            die(f"redis-cli --rdb against {port} failed (exit {proc.returncode}):\n{output}")
        path = f"{prefix}-{port}.rdb"
        size += os.path.getsize(path)
        os.unlink(path)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(f"{wall:.3f} {size} {cpu:.2f}")


def cmd_coffer(endpoint, bootstrap, instance, server_pid):
    account = load_account(bootstrap)
    base = f"/v2/{account['project_id']}/instances/{instance}/backups"
    cpu_before = proc_cpu_s(server_pid)
    started = time.monotonic()
    started_at = time.time()
    status, payload = call(endpoint, account, "POST", base, body={})
    if status != 200 or "backup_id" not in payload:
        die(f"POST {base}: HTTP {status}: {payload}")
    backup_id = payload["backup_id"]
    while True:
        status, payload = call(endpoint, account, "GET", base, [("limit", 10), ("offset", 0)])
        if status != 200:
            die(f"GET {base}: HTTP {status}: {payload}")
        record = next((r for r in payload.get("backup_record_response") or [] if r.get("backup_id") == backup_id), None)
        if record and record["status"] == "succeed":
            # The wall time ends when the job marked the record succeed (every file committed), from its updated_at
            # (milliseconds, this machine's clock): the poll that sees it comes up to POLL_S later, which would
            # add ~25 ms on average to a ~1 s backup. Polling faster instead would take CPU from the backup.
            done_at = datetime.datetime.strptime(record["updated_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
            wall = done_at.timestamp() - started_at
            if not 0 < wall <= time.monotonic() - started + 0.002:  # 2 ms: updated_at is truncated to milliseconds
                die(f"backup {backup_id}: updated_at {record['updated_at']} is not between the POST and now")
            cpu = proc_cpu_s(server_pid) - cpu_before
            break
        if record is None or record["status"] not in ("waiting", "backuping"):
            die(f"backup {backup_id}: {record}")
        if time.monotonic() - started > 3600:
            die(f"backup {backup_id} still running after an hour")
        time.sleep(POLL_S)
    status, links = call(endpoint, account, "POST", f"{base}/{backup_id}/links", body={"expiration": 600})
    if status != 200 or len(links.get("links") or []) < 2:
        die(f"links of {backup_id}: HTTP {status}: {links}")
    status, payload = call(endpoint, account, "DELETE", f"{base}/{backup_id}")
    if status not in (200, 204):
        die(f"DELETE {base}/{backup_id}: HTTP {status}: {payload}")
    print(f"{wall:.3f} {record['size']} {cpu:.2f}")


def cmd_summary(rows):
    walls = {"redis-cli": [], "coffer": []}
    cpus = {"redis-cli": [], "coffer": []}
    with open(rows) as f:
        for line in f:
            tool, wall, _, cpu = line.split()
            walls[tool].append(float(wall))
            cpus[tool].append(float(cpu))
    cli, coffer = statistics.median(walls["redis-cli"]), statistics.median(walls["coffer"])
    print(f"median wall: redis-cli ×3 in parallel {cli:.3f} s, coffer {coffer:.3f} s;"
          f" ratio coffer / redis-cli = {coffer / cli:.2f} (goal ≤ 1.10)")
    print(f"median client CPU: redis-cli ×3 {statistics.median(cpus['redis-cli']):.2f} s, coffer server"
          f" {statistics.median(cpus['coffer']):.2f} s (on {os.cpu_count()} cores, shared with the 3 fork children)")


if __name__ == "__main__":
    main(__doc__, resp=cmd_resp, masters=cmd_masters, setup=cmd_setup, rediscli=cmd_rediscli, coffer=cmd_coffer, summary=cmd_summary)
