"""Two ``coffer serve`` nodes on one PostgreSQL (issue 10, item 2).

Both nodes share the database, the master key (node A's ``master.key``, given to node B as ``COFFER_MASTER_KEY``)
and the blob directory (``--blobs file://…`` on one directory stands in for S3 here). A backup created on node A
is polled and downloaded on node B; then the node running a slow backup is killed with SIGKILL and the survivor
must end the job (``failed``: a DCS backup is not idempotent) within the lease timeout: the job lease is 30 s and
recovery (itself a 30 s lease row, ticking every 5 s) may first have to move to the survivor, so the bound is
30 s + 5 s + slack = ``SURVIVOR_TIMEOUT_S``. A third node with another key refuses to start.

PostgreSQL: ``COFFER_TEST_POSTGRES_URL`` when set, else a throwaway server from ``scripts/lib/postgres.sh``.
"""

from __future__ import annotations

import os
import signal
import string
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials as SdkBasicCredentials

from conftest import (REGION, REPO_ROOT, RedisFactory, create_adopting_instance, dcs_client, free_port, random_secret,
                      stop_process, tail)
from test_dcs_backups import (SLOW_DELAY_US, backup_redis_args, copy_instance, fill_slow, link_of, record,
                              wait_for_backup, wait_until_snapshotting)

HEALTH_TIMEOUT_S = 30.0
# Job lease (30 s) + one recovery tick (5 s) + slack for a loaded machine.
SURVIVOR_TIMEOUT_S = 50.0


def psql(url: str, sql: str) -> str:
    result = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server (started here when the environment names none)."""
    admin = os.environ.get("COFFER_TEST_POSTGRES_URL")
    started_dir: Optional[str] = None
    if not admin:
        script = f'source "{REPO_ROOT}/scripts/lib/postgres.sh" >/dev/null && start_test_postgres >/dev/null && ' \
                 'echo "$COFFER_TEST_POSTGRES_URL $TEST_PG_DIR"'
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            pytest.skip(f"no PostgreSQL for the multi-node test: {result.stderr.strip()[-300:]}")
        admin, started_dir = result.stdout.split()
    name = "coffer_multinode_" + uuid.uuid4().hex[:12]
    psql(admin, f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        try:
            psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except AssertionError:
            pass
        if started_dir:
            subprocess.run(["bash", "-c", f'source "{REPO_ROOT}/scripts/lib/postgres.sh" && TEST_PG_DIR="{started_dir}" '
                                          'stop_test_postgres'], timeout=60)


@dataclass
class Node:
    name: str
    url: str
    data_dir: Path
    log: Path
    proc: subprocess.Popen


def start_node(coffer_bin: str, base: Path, name: str, database: str, blobs: Path, env_extra: dict,
               wait: bool = True) -> Node:
    data_dir = base / name
    data_dir.mkdir(exist_ok=True)
    log = base / f"{name}.log"
    port = free_port()
    env = dict(os.environ)
    env.update(env_extra)
    cmd = [coffer_bin, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
           "--region", REGION, "--database", database, "--blobs", f"file://{blobs}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    node = Node(name=name, url=f"http://127.0.0.1:{port}", data_dir=data_dir, log=log, proc=proc)
    if wait:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"node {name} exited with {proc.returncode} before /health answered:\n{tail(log)}")
            try:
                if requests.get(f"{node.url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"node {name}: /health did not answer within {HEALTH_TIMEOUT_S:.0f} s:\n{tail(log)}")
            time.sleep(0.1)
    return node


@dataclass
class Cluster:
    a: Node
    b: Node
    database: str
    blobs: Path
    base: Path
    project_id: str
    ak: str
    sk: str

    def client(self, node: Node):
        return dcs_client(node.url, SdkBasicCredentials(self.ak, self.sk, self.project_id))


@pytest.fixture(scope="module")
def cluster(coffer_bin: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("multinode")
    blobs = base / "blobs"
    ak = "CFR" + random_secret(17, string.ascii_uppercase + string.digits)
    sk = random_secret(40)
    admin = dict(COFFER_ADMIN_PASSWORD="Adm1n-" + random_secret(16), COFFER_ADMIN_ACCESS_KEY=ak,
                 COFFER_ADMIN_SECRET_KEY=sk)
    nodes: list[Node] = []
    try:
        a = start_node(coffer_bin, base, "a", postgres_url, blobs, admin)
        nodes.append(a)
        key = (a.data_dir / "master.key").read_text().strip()
        b = start_node(coffer_bin, base, "b", postgres_url, blobs, {"COFFER_MASTER_KEY": key})
        nodes.append(b)
        import json
        project_id = json.loads((a.data_dir / "bootstrap.json").read_text())["project_id"]
        yield Cluster(a=a, b=b, database=postgres_url, blobs=blobs, base=base, project_id=project_id, ak=ak, sk=sk)
    finally:
        for node in nodes:
            stop_process(node.proc)


def test_node_with_another_master_key_refuses_to_start(coffer_bin: str, cluster: Cluster):
    other = start_node(coffer_bin, cluster.base, "c", cluster.database, cluster.blobs, {}, wait=False)
    try:
        code = other.proc.wait(timeout=HEALTH_TIMEOUT_S)
    finally:
        stop_process(other.proc)
    assert code != 0
    text = other.log.read_text(errors="replace")
    assert "master key" in text and "COFFER_MASTER_KEY" in text, text[-2000:]


def test_create_on_a_poll_and_download_on_b(cluster: Cluster, redis_factory: RedisFactory, redis_version: str):
    server = redis_factory.start(extra_args=backup_redis_args("yes", redis_version))
    for i in range(50):
        server.command("SET", f"k{i}", f"v{i}")
    on_a, on_b = cluster.client(cluster.a), cluster.client(cluster.b)
    instance_id = create_adopting_instance(on_a, "mn-" + random_secret(6).lower(), server).instances[0].instance_id
    backup_id = copy_instance(on_a, instance_id, remark="made on A")
    rec, statuses = wait_for_backup(on_b, instance_id, backup_id)
    assert rec["status"] == "succeed", (rec, statuses)
    link = link_of(on_b, instance_id, backup_id)
    assert link.startswith(cluster.b.url), link
    got = requests.get(link, timeout=60)
    assert got.status_code == 200, got.text[:300]
    assert got.content.startswith(b"REDIS"), got.content[:16]
    assert len(got.content) == rec["size"], (len(got.content), rec)
    # The same link signed by B answers on A too (one master key).
    assert requests.get(link.replace(cluster.b.url, cluster.a.url), timeout=60).content == got.content


def test_node_killed_mid_backup_survivor_ends_the_job(cluster: Cluster, redis_factory: RedisFactory,
                                                      redis_version: str):
    server = redis_factory.start(extra_args=backup_redis_args("yes", redis_version))
    fill_slow(server)
    # About 300 keys × 60 ms = 18 s of snapshot: the backup is still running when its node dies.
    server.command("CONFIG", "SET", "rdb-key-save-delay", str(SLOW_DELAY_US * 6))
    on_a = cluster.client(cluster.a)
    instance_id = create_adopting_instance(on_a, "mn-kill-" + random_secret(6).lower(), server).instances[0].instance_id
    backup_id = copy_instance(on_a, instance_id, remark="doomed node")
    children = wait_until_snapshotting(on_a, server, instance_id, backup_id)
    job_id = psql(cluster.database, f"SELECT id FROM jobs WHERE kind = 'dcs.backup' AND resource_id = '{instance_id}' "
                                    "AND status = 'running'")
    assert job_id, "the backup job is not running"
    runners = [n for n in (cluster.a, cluster.b) if job_id in n.log.read_text(errors="replace")]
    assert len(runners) == 1, f"job {job_id} found in the logs of {[n.name for n in runners]}"
    doomed = runners[0]
    survivor = cluster.b if doomed is cluster.a else cluster.a
    doomed.proc.send_signal(signal.SIGKILL)
    doomed.proc.wait(timeout=10)
    killed_at = time.monotonic()
    try:
        rec, statuses = wait_for_backup(cluster.client(survivor), instance_id, backup_id, timeout=SURVIVOR_TIMEOUT_S)
        took = time.monotonic() - killed_at
        print(f"\nnode {doomed.name} killed; survivor {survivor.name} ended the backup '{rec['status']}' "
              f"({rec.get('error_code')}) {took:.1f} s later")
        assert rec["status"] == "failed", rec
        assert rec["error_code"] == "dcs.08.0002", rec
        assert took < SURVIVOR_TIMEOUT_S
        job = psql(cluster.database, f"SELECT status, lease_owner IS NULL FROM jobs WHERE id = '{job_id}'")
        assert job == "failed|t", job
        active = psql(cluster.database, "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running') "
                                        "AND kind = 'dcs.backup'")
        assert active == "0", active
    finally:
        server.command("CONFIG", "SET", "rdb-key-save-delay", "0")
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    # The survivor still takes new work: a backup after the kill succeeds.
    backup_id = copy_instance(cluster.client(survivor), instance_id, remark="after the kill")
    rec, _ = wait_for_backup(cluster.client(survivor), instance_id, backup_id)
    assert rec["status"] == "succeed", rec


def test_second_serve_on_one_sqlite_file_is_refused(coffer, coffer_bin: str, tmp_path: Path):
    """SQLite is for one node: a second ``coffer serve`` on the session server's data dir exits at once."""
    log = tmp_path / "second.log"
    cmd = [coffer_bin, "serve", "--host", "127.0.0.1", "--port", str(free_port()), "--data-dir", str(coffer.data_dir),
           "--region", REGION]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        code = proc.wait(timeout=HEALTH_TIMEOUT_S)
    finally:
        stop_process(proc)
    assert code != 0
    text = log.read_text(errors="replace")
    assert "SQLite is for one node" in text, text[-2000:]
    # The first server still answers.
    assert requests.get(f"{coffer.url}/health", timeout=5).status_code == 200
