"""The ``coffer`` DDM client commands, as the built binary, over real mariadbd data nodes: ``instance adopt
mysql://…`` registers a data node, ``ddm backup create --wait`` and ``ddm backup list`` (table and ``--json``), and
``ddm recover`` (a refused request shows its code and exits non-zero; a bad ``--time`` or ``--map`` is refused
before any request)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from huaweicloudsdkddm.v1 import (
    CreateDatabaseDetail,
    CreateDatabaseReq,
    CreateDatabaseRequest,
    CreateInstanceDetail,
    CreateInstanceReq,
    CreateInstanceRequest,
    DatabaseInstabcesParam,
)

from conftest import Coffer
from ddm_support import ADMIN_PASSWORD, ADMIN_USER, ddm_client, mariadb_nodes  # noqa: F401  (fixture)
from test_cli import CLI


@pytest.fixture(scope="module")
def ddm_cli(coffer: Coffer, tmp_path_factory: pytest.TempPathFactory) -> CLI:
    home = tmp_path_factory.mktemp("cli-ddm-home")
    client = CLI(coffer.binary, home / "profile.json")
    client.run("login", "--bootstrap", str(coffer.data_dir / "bootstrap.json"))
    return client


@pytest.fixture(scope="module")
def ddm_instance(coffer: Coffer, ddm_cli: CLI, mariadb_nodes) -> dict:
    """Both nodes registered through the CLI, an instance and a 2-shard schema through the SDK."""
    node_ids = []
    for i, node in enumerate(mariadb_nodes):
        answer = ddm_cli.json("instance", "adopt", f"mysql://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{node.port}",
                              "--name", f"cli-dn-{i}")
        assert answer["id"].endswith("in01"), answer
        node_ids.append(answer["id"])
    ddm = ddm_client(coffer.url, coffer.admin_access_key, coffer.admin_secret_key, coffer.project_id)
    created = ddm.create_instance(CreateInstanceRequest(body=CreateInstanceReq(instance=CreateInstanceDetail(
        name="cli-ddm-01", flavor_id="ddm.c6.large.2", node_num=2, engine_id="engine", available_zones=["az1"],
        vpc_id="vpc", security_group_id="sg", subnet_id="subnet"))))
    used = [DatabaseInstabcesParam(id=n, admin_user=ADMIN_USER, admin_password=ADMIN_PASSWORD) for n in node_ids]
    ddm.create_database(CreateDatabaseRequest(instance_id=created.id, body=CreateDatabaseReq(databases=[
        CreateDatabaseDetail(name="clidb", shard_mode="cluster", shard_number=2, used_rds=used)])))
    mariadb_nodes[0].sql("CREATE TABLE clidb_0000.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO clidb_0000.t VALUES (1)")
    return {"instance_id": created.id, "node_ids": node_ids}


def test_adopted_data_nodes_are_listed(ddm_cli: CLI, ddm_instance):
    table = ddm_cli.run("instance", "list").stdout
    for node_id in ddm_instance["node_ids"]:
        assert any(line.split()[:2] == ["data-node", node_id] for line in table.splitlines()), table
    assert any(line.split()[:2] == ["ddm", ddm_instance["instance_id"]] for line in table.splitlines()), table


def test_ddm_backup_create_wait_and_list(ddm_cli: CLI, ddm_instance):
    instance_id = ddm_instance["instance_id"]
    result = ddm_cli.run("ddm", "backup", "create", instance_id, "--name", "cli-ddm-backup", "--wait")
    assert "Completed" in result.stdout, result.stdout
    listed = ddm_cli.json("ddm", "backup", "list", instance_id)["backups"]
    backup = next(b for b in listed if b["name"] == "cli-ddm-backup")
    assert backup["status"] == "normal" and backup["instance_id"] == instance_id, backup
    table = ddm_cli.run("ddm", "backup", "list", instance_id).stdout.splitlines()
    assert table[0].split() == ["BACKUP", "NAME", "STATUS", "SIZE", "TYPE", "CREATED"]
    assert any(backup["id"] in line and "normal" in line for line in table), table


def test_ddm_recover_refused_shows_the_code(ddm_cli: CLI, ddm_instance):
    source = ddm_instance["instance_id"]
    node = ddm_instance["node_ids"][0]
    result = ddm_cli.run("ddm", "recover", source, "--time", "2020-01-01T00:00:00Z", "--into", uuid.uuid4().hex + "in09",
                         "--map", f"{node}={node}", "--wait", ok=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "DBS." in lines[0] and "HTTP 4" in lines[0], result.stderr


@pytest.mark.parametrize("args, message", [
    (["--time", "yesterday", "--into", "x", "--map", "a=b"], "--time"),
    (["--time", "1700000000000", "--into", "x", "--map", "a"], "--map expects SRC=DST"),
    (["--time", "1700000000000", "--into", "x"], "--map"),
])
def test_ddm_recover_bad_arguments_fail_before_any_request(ddm_cli: CLI, args, message, tmp_path: Path):
    result = ddm_cli.run("ddm", "recover", "some-instance", *args, ok=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr
