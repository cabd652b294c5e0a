"""DDM helpers for the SDK suite: real ``mariadbd`` data nodes and a ``DdmClient`` on the session server.

Kept apart from conftest.py so the DCS fixtures stay as they are; test modules import the fixtures they use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkddm.v1 import DdmClient, ShowDdmJobResultRequest

from conftest import free_port, http_config, signed_request, stop_process, tail

ADMIN_USER = "coffer"
ADMIN_PASSWORD = "Coffer-sdk-pw1"


@dataclass
class MariaDB:
    port: int
    directory: Path
    proc: subprocess.Popen

    def sql(self, statement: str) -> str:
        """Runs a statement with the ``mariadb`` client as the administrator; returns its tab-separated output."""
        result = subprocess.run(
            ["mariadb", "--protocol=TCP", "-h127.0.0.1", f"-P{self.port}", f"-u{ADMIN_USER}", f"-p{ADMIN_PASSWORD}",
             "-N", "-B", "-e", statement], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"mariadb -e {statement!r}: {result.stderr}")
        return result.stdout


def start_mariadb(template: Path, base: Path) -> MariaDB:
    base.mkdir(parents=True)
    data = base / "data"
    shutil.copytree(template, data)
    init = base / "init.sql"
    init.write_text(f"CREATE USER IF NOT EXISTS '{ADMIN_USER}'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}';\n"
                    f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'%' WITH GRANT OPTION;\n")
    port = free_port()
    cmd = ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={base / 'sock'}", f"--port={port}",
           "--bind-address=127.0.0.1", "--skip-name-resolve", f"--init-file={init}", "--innodb-buffer-pool-size=64M",
           "--innodb-log-file-size=16M", f"--log-error={base / 'error.log'}", f"--log-bin={data / 'binlog'}",
           "--server-id=1", f"--tmpdir={base}"]
    if os.geteuid() == 0:
        cmd.append("--user=root")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    node = MariaDB(port=port, directory=base, proc=proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            node.sql("SELECT 1")
            return node
        except RuntimeError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc)
                pytest.fail(f"mariadbd did not start:\n{tail(base / 'error.log')}")
            time.sleep(0.1)


def install_mariadb_template(base: Path) -> Path:
    """A fresh ``mariadb-install-db`` data directory under ``base``, copied for each server started from it."""
    if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
        pytest.fail("mariadbd is not installed (scripts/install-deps installs mariadb-server)", pytrace=False)
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin"
    template = base / "template"
    cmd = ["mariadb-install-db", "--no-defaults", f"--datadir={template}", "--auth-root-authentication-method=normal",
           "--skip-test-db"]
    if os.geteuid() == 0:
        cmd.append("--user=root")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        pytest.fail(f"mariadb-install-db failed: {result.stderr[-2000:]}")
    return template


@pytest.fixture(scope="module")
def mariadb_nodes(tmp_path_factory: pytest.TempPathFactory):
    """Two real mariadbd data nodes (binary logging on, an administrator with a password)."""
    base = tmp_path_factory.mktemp("mariadb")
    template = install_mariadb_template(base)
    nodes = [start_mariadb(template, base / f"node{i}") for i in range(2)]
    try:
        yield nodes
    finally:
        for node in nodes:
            stop_process(node.proc)


@pytest.fixture(scope="module")
def spare_mariadb_node(tmp_path_factory: pytest.TempPathFactory):
    """One more real mariadbd, for a restore target's data node (never one of the source's)."""
    base = tmp_path_factory.mktemp("mariadb-spare")
    node = start_mariadb(install_mariadb_template(base), base / "node")
    try:
        yield node
    finally:
        stop_process(node.proc)


def ddm_client(url: str, ak: str, sk: str, project_id: str) -> DdmClient:
    return (DdmClient.new_builder()
            .with_http_config(http_config())
            .with_credentials(BasicCredentials(ak, sk, project_id))
            .with_endpoint(url)
            .build())


def call(coffer, method, path, body=None, query=()):
    """A signed request outside the SDK (endpoints it does not model, or raw bodies)."""
    return signed_request(coffer.url, method, path, ak=coffer.admin_access_key, sk=coffer.admin_secret_key,
                          project_id=coffer.project_id, body=body, query=query)


def wait_job(ddm, job_id: str, timeout: float = 90.0):
    """Polls ``show_ddm_job_result`` until the job is no longer ``Running``."""
    deadline = time.monotonic() + timeout
    while True:
        job = ddm.show_ddm_job_result(ShowDdmJobResultRequest(job_id=job_id)).job
        if job.status != "Running":
            return job
        assert time.monotonic() < deadline, f"job {job_id} still running after {timeout} s"
        time.sleep(0.1)
