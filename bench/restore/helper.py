"""Python side of bench/restore/run.sh: the work that bash does badly.

Subcommands (stdlib only, so it runs without the project's venv):
  port                                      print a free TCP port on 127.0.0.1
  load     REDIS_PORT DATASET               fill a Redis with a dataset through one pipelined socket:
                                            small = 1,000,000 strings of ~10 bytes + 2,000 hashes × 50 fields,
                                            1k = 300,000 values of 1 KiB random bytes
  dumps    REDIS_PORT FILE                  SCAN + DUMP every key; write `RESTORE key 0 payload` (RESP) to FILE
  commands REDIS_PORT FILE                  the same keys in the forms Coffer's RESTORE path sends (MSETNX / SET NX
                                            PXAT for strings, RESTORE for the rest), for --pipe side by side
  setup    ENDPOINT BOOTSTRAP SRC_PORT TGT_PORT
                                            adopt both Redis servers; print "project source target"
  backup   ENDPOINT BOOTSTRAP INSTANCE      one Coffer backup of INSTANCE; print "backup_id wall_s"
  restore  ENDPOINT BOOTSTRAP BACKUP TARGET SERVER_PID
                                            a migration task (restore BACKUP into TARGET), polled to SUCCESS;
                                            print "wall_s rss_growth_MiB"
  loadtime LOG                              the "DB loaded from disk: X seconds" figure of a redis log
"""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from coffer_bench import call, die, load_account, main  # noqa: E402

POLL_S = 0.05


def resp(*parts):
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        p = p if isinstance(p, bytes) else str(p).encode()
        out += [b"$%d\r\n" % len(p), p, b"\r\n"]
    return b"".join(out)


class Conn:
    """A minimal RESP connection: pipelined writes, replies read with a buffered parser."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", int(port)))
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                die("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                die("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            die(f"redis error: {rest.decode()}")
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        die(f"unexpected reply {line!r}")

    def pipeline(self, commands):
        self.sock.sendall(b"".join(resp(*c) for c in commands))
        return [self.reply() for _ in commands]


def cmd_load(port, dataset):
    conn = Conn(port)
    conn.pipeline([["FLUSHALL"]])
    if dataset == "small":
        for start in range(0, 1_000_000, 10_000):
            conn.pipeline([["SET", f"s:{i}", f"v{i:09d}"] for i in range(start, start + 10_000)])
        for start in range(0, 2_000, 100):
            batch = []
            for i in range(start, start + 100):
                fields = []
                for f in range(50):
                    fields += [f"f{f}", f"value-{i}-{f}"]
                batch.append(["HSET", f"h:{i}", *fields])
            conn.pipeline(batch)
    elif dataset == "1k":
        for start in range(0, 300_000, 2_000):
            pool = os.urandom(2_000 * 1024)
            conn.pipeline([["SET", f"k:{i}", pool[(i - start) * 1024:(i - start + 1) * 1024]] for i in range(start, start + 2_000)])
    else:
        die(f"unknown dataset {dataset}")
    print(conn.pipeline([["DBSIZE"]])[0].decode())


def cmd_dumps(port, path):
    """`RESTORE key 0 payload` for every key, the form `redis-cli --pipe` sends at the online ceiling."""
    conn = Conn(port)
    cursor = b"0"
    count = 0
    with open(path, "wb") as out:
        while True:
            cursor, keys = conn.pipeline([["SCAN", cursor, "COUNT", "2000"]])[0]
            if keys:
                payloads = conn.pipeline([["DUMP", k] for k in keys])
                out.write(b"".join(resp(b"RESTORE", k, b"0", p) for k, p in zip(keys, payloads)))
                count += len(keys)
            if cursor == b"0":
                break
    print(count)


def cmd_commands(port, path):
    """The forms Coffer's RESTORE path sends, for `redis-cli --pipe` side by side: strings without a deadline 128
    (at most 64 KiB) to an `MSETNX`, strings with one as `SET key value NX PXAT`, every other key as `RESTORE`."""
    conn = Conn(port)
    cursor = b"0"
    count = 0
    group, group_bytes = [], 0
    now_ms = int(time.time() * 1000)
    with open(path, "wb") as out:
        def close_group():
            nonlocal group, group_bytes
            if group:
                out.write(resp(b"MSETNX", *[part for pair in group for part in pair]))
            group, group_bytes = [], 0
        while True:
            cursor, keys = conn.pipeline([["SCAN", cursor, "COUNT", "2000"]])[0]
            if keys:
                types = conn.pipeline([["TYPE", k] for k in keys])
                strings = [k for k, t in zip(keys, types) if t == b"string"]
                others = [k for k, t in zip(keys, types) if t != b"string"]
                if strings:
                    replies = conn.pipeline([c for k in strings for c in (["GET", k], ["PTTL", k])])
                    for k, value, pttl in zip(strings, replies[0::2], replies[1::2]):
                        if int(pttl) >= 0:
                            out.write(resp(b"SET", k, value, b"NX", b"PXAT", now_ms + int(pttl)))
                            continue
                        group.append((k, value))
                        group_bytes += len(k) + len(value)
                        if len(group) >= 128 or group_bytes >= 64 * 1024:
                            close_group()
                if others:
                    payloads = conn.pipeline([["DUMP", k] for k in others])
                    out.write(b"".join(resp(b"RESTORE", k, b"0", p) for k, p in zip(others, payloads)))
                count += len(keys)
            if cursor == b"0":
                break
        close_group()
    print(count)


def cmd_setup(endpoint, bootstrap, src_port, tgt_port):
    account = load_account(bootstrap)
    ids = []
    for name, port in (("bench-source", src_port), ("bench-target", tgt_port)):
        body = {"name": name, "engine": "Redis", "capacity": 1, "private_ip": "127.0.0.1", "port": int(port)}
        status, payload = call(endpoint, account, "POST", f"/v2/{account['project_id']}/instances", body=body)
        if status != 200:
            die(f"create instance {name}: HTTP {status}: {payload}")
        ids.append(payload["instances"][0]["instance_id"])
    print(account["project_id"], *ids)


def cmd_backup(endpoint, bootstrap, instance):
    account = load_account(bootstrap)
    base = f"/v2/{account['project_id']}/instances/{instance}/backups"
    started = time.monotonic()
    status, payload = call(endpoint, account, "POST", base)
    if status != 200:
        die(f"POST {base}: HTTP {status}: {payload}")
    backup_id = payload["backup_id"]
    while True:
        status, payload = call(endpoint, account, "GET", base, [("limit", 10), ("offset", 0)])
        record = next((r for r in payload.get("backup_record_response") or [] if r.get("backup_id") == backup_id), None)
        if record and record["status"] == "succeed":
            break
        if record is None or record["status"] not in ("waiting", "backuping"):
            die(f"backup {backup_id}: {record}")
        time.sleep(POLL_S)
    print(backup_id, f"{time.monotonic() - started:.3f}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_restore(endpoint, bootstrap, backup_id, target, server_pid):
    account = load_account(bootstrap)
    server_pid = int(server_pid)
    base = f"/v2/{account['project_id']}/migration-task"
    with open(f"/proc/{server_pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, so peaks between two samples count too
    before = rss_kib(server_pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(server_pid))
            done.wait(POLL_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    body = {"task_name": "bench", "migration_type": "backupfile_import", "migration_method": "full_amount_migration",
            "backup_files": {"file_source": "backup_record", "backup_id": backup_id}, "target_instance": {"id": target}}
    started = time.monotonic()
    status, payload = call(endpoint, account, "POST", base, body=body)
    if status != 200:
        die(f"POST {base}: HTTP {status}: {payload}")
    task = payload["id"]
    while True:
        status, payload = call(endpoint, account, "GET", f"{base}/{task}")
        if status != 200:
            die(f"GET {base}/{task}: HTTP {status}: {payload}")
        if payload.get("status") == "SUCCESS":
            wall = time.monotonic() - started
            break
        if payload.get("status") != "MIGRATING":
            die(f"migration task {task} ended {payload}")
        time.sleep(POLL_S)
    done.set()
    sampler.join()
    with open(f"/proc/{server_pid}/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(f"{wall:.3f} {max(0, max(peak[0], hwm) - before) / 1024:.1f}")


def cmd_loadtime(log):
    with open(log) as f:
        found = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", f.read())
    if not found:
        die(f"no 'DB loaded from disk' line in {log}")
    print(found[-1])


if __name__ == "__main__":
    main(__doc__, load=cmd_load, dumps=cmd_dumps, commands=cmd_commands, setup=cmd_setup, backup=cmd_backup, restore=cmd_restore, loadtime=cmd_loadtime)
