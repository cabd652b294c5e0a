#!/usr/bin/env python3
"""Python side of bench/backup-vs-redis-cli/run.sh: the work that bash does badly.

Subcommands (stdlib only, so it runs without the project's venv):
  port                                         print a free TCP port on 127.0.0.1
  setup    ENDPOINT BOOTSTRAP REDIS_PORT       adopt the Redis as instance bench-01; print "project instance"
  resp     KEYS VALUE_BYTES                    write KEYS `SET key:<n> <random value>` commands (RESP) to stdout
  rediscli REDIS_PORT REDIS_PID FILE           time `redis-cli --rdb FILE`, delete FILE; print a result row
  coffer   REDIS_PORT REDIS_PID ENDPOINT BOOTSTRAP INSTANCE SERVER_PID [FORMAT]
                                               time one Coffer backup (FORMAT rdb or aof, default rdb), sample the server's RSS, delete the
                                               backup; print a result row
  summary  ROWS DATASET                        medians, ratio and peak RSS growth of one dataset's rows

A result row is "wall_s server_s rdb_bytes rss_growth_MiB tool_cpu_s fork_cpu_s tool_user_s tool_sys_s"
("-" where not applicable).
"""
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from coffer_bench import call, die, load_account, main  # noqa: E402

POLL_S = 0.05  # status polling and RSS sampling period
TICKS = os.sysconf("SC_CLK_TCK")
SIZE_TOLERANCE = 0.02  # redis-cli's and Coffer's RDB of the same dataset


def proc_rss_kib(pid):
    """VmRSS and VmHWM of a process, in KiB."""
    rss = hwm = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def proc_cpu_s(pid):
    """(own user CPU, own system CPU, reaped children's user+system CPU) of a process, in seconds.
    Redis reaps its fork child when the snapshot ends, so the third figure grows by the child's CPU."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after "(comm)": field 3 is fields[0]
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return utime / TICKS, stime / TICKS, (cutime + cstime) / TICKS


def redis_info(port, section):
    """INFO <section> of the Redis on 127.0.0.1:port, as a dict."""
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as s:
        s.sendall(f"INFO {section}\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            data += s.recv(65536) or die("Redis closed the connection")
        header, data = data.split(b"\r\n", 1)
        if not header.startswith(b"$"):
            die(f"INFO {section}: {header.decode(errors='replace')}")
        length = int(header[1:])
        while len(data) < length:
            data += s.recv(65536) or die("Redis closed the connection")
    return dict(line.split(":", 1) for line in data[:length].decode().splitlines() if ":" in line)


def wait_redis_idle(port):
    """Until Redis has reaped its last fork child: a SYNC that arrives while a child still runs waits for
    the next one, and the child's CPU time shows in the parent's cutime only once it is reaped."""
    deadline = time.monotonic() + 60
    while redis_info(port, "persistence").get("rdb_bgsave_in_progress") != "0":
        if time.monotonic() > deadline:
            die("Redis still has a fork child after 60 s")
        time.sleep(0.01)


def parse_dcs_time(text):
    """'2024-11-22T17:06:00.123Z' -> epoch ms."""
    stamp = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return round(stamp.timestamp() * 1000)


# --- subcommands (and `port`, from coffer_bench) ---

def cmd_setup(endpoint, bootstrap, redis_port):
    account = load_account(bootstrap)
    body = {"name": "bench-01", "engine": "Redis", "capacity": 1, "private_ip": "127.0.0.1", "port": int(redis_port)}
    status, payload = call(endpoint, account, "POST", f"/v2/{account['project_id']}/instances", body=body)
    if status != 200:
        die(f"create instance bench-01: HTTP {status}: {payload}")
    print(account["project_id"], payload["instances"][0]["instance_id"])


def cmd_resp(keys, value_bytes):
    """SET commands with random (incompressible) values, written in ~4 MiB slabs; the values of a slab
    are slices of one os.urandom call, which is far cheaper than one call per key."""
    keys, value_bytes = int(keys), int(value_bytes)
    out = sys.stdout.buffer
    per_slab = max(1, (4 << 20) // value_bytes)
    vlen = f"${value_bytes}\r\n".encode()
    for start in range(0, keys, per_slab):
        count = min(per_slab, keys - start)
        pool = os.urandom(count * value_bytes)
        parts = []
        for i in range(count):
            key = b"key:%d" % (start + i)
            parts += [b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n" % (len(key), key), vlen,
                      pool[i * value_bytes:(i + 1) * value_bytes], b"\r\n"]
        out.write(b"".join(parts))
    out.flush()


def cmd_rediscli(redis_port, redis_pid, path):
    redis_pid = int(redis_pid)
    wait_redis_idle(redis_port)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    fork_before = proc_cpu_s(redis_pid)[2]
    started = time.monotonic()
    proc = subprocess.run(["redis-cli", "-p", redis_port, "--rdb", path], capture_output=True, text=True)
    wall = time.monotonic() - started
    wait_redis_idle(redis_port)
    fork_after = proc_cpu_s(redis_pid)[2]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or "Transfer finished with success" not in output:
        die(f"redis-cli --rdb failed (exit {proc.returncode}):\n{output}")
    size = os.path.getsize(path)
    os.unlink(path)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    print(f"{wall:.3f} - {size} - {user + system:.2f} {fork_after - fork_before:.2f} {user:.2f} {system:.2f}")


def cmd_coffer(redis_port, redis_pid, endpoint, bootstrap, instance, server_pid, backup_format="rdb"):
    account = load_account(bootstrap)
    base = f"/v2/{account['project_id']}/instances/{instance}/backups"
    server_pid, redis_pid = int(server_pid), int(redis_pid)
    wait_redis_idle(redis_port)

    # RSS: VmRSS sampled every 50 ms by a thread, plus the kernel's own high-water mark VmHWM, reset
    # just before the POST (writing 5 to clear_refs), which also catches peaks between two samples.
    try:
        with open(f"/proc/{server_pid}/clear_refs", "w") as f:
            f.write("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    base_rss, _ = proc_rss_kib(server_pid)
    peak = [base_rss]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                rss, _ = proc_rss_kib(server_pid)
            except OSError:
                return
            peak[0] = max(peak[0], rss)
            done.wait(POLL_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    user_before, sys_before, _ = proc_cpu_s(server_pid)
    fork_before = proc_cpu_s(redis_pid)[2]

    started = time.monotonic()
    status, payload = call(endpoint, account, "POST", base, body={"backup_format": backup_format})
    if status != 200 or not isinstance(payload, dict) or "backup_id" not in payload:
        die(f"POST {base}: HTTP {status}: {payload}")
    backup_id = payload["backup_id"]
    deadline = started + 3600
    while True:
        status, payload = call(endpoint, account, "GET", base, [("limit", 10), ("offset", 0)])
        if status != 200:
            die(f"GET {base}: HTTP {status}: {payload}")
        record = next((r for r in payload.get("backup_record_response") or [] if r.get("backup_id") == backup_id), None)
        if record is None:
            die(f"backup {backup_id} is not in the 10 newest records: {payload}")
        if record["status"] == "succeed":
            wall = time.monotonic() - started
            break
        if record["status"] != "waiting" and record["status"] != "backuping":
            die(f"backup {backup_id} ended {record['status']}, error_code {record.get('error_code')}: {record}")
        if time.monotonic() > deadline:
            die(f"backup {backup_id} still {record['status']} after an hour")
        time.sleep(POLL_S)

    done.set()
    sampler.join()
    _, hwm = proc_rss_kib(server_pid)
    user_after, sys_after, _ = proc_cpu_s(server_pid)
    user, system = user_after - user_before, sys_after - sys_before
    wait_redis_idle(redis_port)
    fork_after = proc_cpu_s(redis_pid)[2]
    top = max(peak[0], hwm) if hwm_reset else peak[0]
    growth_mib = max(0, top - base_rss) / 1024
    server_s = (parse_dcs_time(record["updated_at"]) - parse_dcs_time(record["execution_at"])) / 1000

    status, payload = call(endpoint, account, "DELETE", f"{base}/{backup_id}")
    if status != 204:
        die(f"DELETE {base}/{backup_id}: HTTP {status}: {payload}")
    print(f"{wall:.3f} {server_s:.3f} {record['size']} {growth_mib:.1f} {user + system:.2f} "
          f"{fork_after - fork_before:.2f} {user:.2f} {system:.2f}")


def cmd_summary(rows_path, dataset):
    """ROWS holds lines 'tool' + a result row."""
    rows = {"redis-cli": [], "coffer": []}
    with open(rows_path) as f:
        for line in f:
            words = line.split()
            rows[words[0]].append(words[1:])
    cli, cof = rows["redis-cli"], rows["coffer"]
    if not cli or not cof:
        die(f"no rows for both tools in {rows_path}")
    med = lambda rs, i: statistics.median(float(r[i]) for r in rs)
    cli_wall, cof_wall = med(cli, 0), med(cof, 0)
    cli_size, cof_size = med(cli, 2), med(cof, 2)
    peak = max(float(r[3]) for r in cof)
    ratio = cof_wall / cli_wall
    print(f"median redis-cli = {cli_wall:.3f} s   ({cli_size / cli_wall / 1e6:.0f} MB/s, rdb {cli_size:.0f} bytes,"
          f" redis-cli cpu {med(cli, 4):.2f} s = {med(cli, 6):.2f} user + {med(cli, 7):.2f} sys, fork child cpu {med(cli, 5):.2f} s)")
    print(f"median coffer    = {cof_wall:.3f} s   ({cof_size / cof_wall / 1e6:.0f} MB/s, rdb {cof_size:.0f} bytes,"
          f" coffer cpu {med(cof, 4):.2f} s = {med(cof, 6):.2f} user + {med(cof, 7):.2f} sys, fork child cpu {med(cof, 5):.2f} s; server-side {med(cof, 1):.3f} s)")
    verdict = "ok" if ratio <= 1.05 else f"MISSED by {(ratio / 1.05 - 1) * 100:.1f}%"
    print(f"ratio coffer/redis-cli = {ratio:.2f} (goal ≤ 1.05): {verdict}")
    print(f"ratio coffer server-side/redis-cli = {med(cof, 1) / cli_wall:.2f} (excludes job-claim latency)")
    verdict = "ok" if peak <= 64 else f"MISSED by {peak - 64:.1f} MiB"
    print(f"peak RSS growth = {peak:.0f} MiB (goal ≤ 64): {verdict}")
    # Both tools pulled an RDB of the same unchanged dataset: only the AUX fields (ctime, used-mem,
    # repl-id, ...) may differ. A larger gap means one of them did not get the whole snapshot.
    sizes = [float(r[2]) for r in cli + cof]
    if max(sizes) > min(sizes) * (1 + SIZE_TOLERANCE):
        die(f"{dataset}: RDB sizes differ by more than {SIZE_TOLERANCE:.0%}: redis-cli {[r[2] for r in cli]},"
            f" coffer {[r[2] for r in cof]}")


if __name__ == "__main__":
    main(__doc__, setup=cmd_setup, resp=cmd_resp, rediscli=cmd_rediscli, coffer=cmd_coffer, summary=cmd_summary)
