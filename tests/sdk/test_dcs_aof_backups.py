"""AOF backups through the official SDK: ``copy_instance`` with ``backup_format="aof"`` is accepted, the record lists
as ``aof``, the download link serves a ``.aof`` RESP command file that ``redis-check-aof`` accepts, and
``restore_instance`` of that backup puts the data back like an RDB backup's restore."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import requests

from conftest import RedisFactory, create_adopting_instance
from test_dcs_backups import (
    backup_redis_args,
    copy_instance,
    dbsizes,
    debug_digest,
    link_of,
    load_dataset,
    read_values,
    unique_name,
    wait_for_backup,
)
from test_dcs_restores import mutate, restore, wait_for_restore


@pytest.fixture(scope="module")
def aof_backup(dcs, redis_factory: RedisFactory, redis_version: str) -> dict:
    server = redis_factory.start(password="aof-pw", extra_args=backup_redis_args("yes", redis_version))
    dataset = load_dataset(server)
    instance_id = create_adopting_instance(dcs, unique_name("aof"), server).instances[0].instance_id
    backup_id = copy_instance(dcs, instance_id, remark="aof", backup_format="aof")
    rec, seen = wait_for_backup(dcs, instance_id, backup_id)
    return dict(server=server, instance_id=instance_id, backup_id=backup_id, dataset=dataset, record=rec, seen=seen,
                digest=debug_digest(server), sizes=dbsizes(server, range(16)), values=read_values(server, dataset.sample))


def test_aof_backup_is_listed_as_aof(dcs, aof_backup):
    rec = aof_backup["record"]
    assert rec["status"] == "succeed", rec
    assert rec["backup_format"] == "aof" and rec["progress"] == "100.00" and rec["is_support_restore"] == "TRUE", rec
    assert isinstance(rec["size"], int) and rec["size"] > 0, rec


def test_aof_download_is_a_valid_aof(dcs, aof_backup, tmp_path):
    link = link_of(dcs, aof_backup["instance_id"], aof_backup["backup_id"])
    assert link.split("?")[0].endswith(".aof"), link
    got = requests.get(link, timeout=60)
    assert got.status_code == 200
    assert len(got.content) == aof_backup["record"]["size"]
    assert got.content.startswith(b"*2\r\n$6\r\nSELECT\r\n") or got.content.startswith(b"*4\r\n$8\r\nFUNCTION"), got.content[:40]
    if shutil.which("redis-check-aof") is None:
        pytest.skip("redis-check-aof is not installed")
    path = tmp_path / "backup.aof"
    path.write_bytes(got.content)
    check = subprocess.run(["redis-check-aof", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_aof_backup_restores(dcs, aof_backup):
    server, instance_id = aof_backup["server"], aof_backup["instance_id"]
    mutate(server)
    assert dbsizes(server, range(16)) != aof_backup["sizes"]
    restore_id = restore(dcs, instance_id, aof_backup["backup_id"], remark="undo from aof")
    rec, _ = wait_for_restore(dcs, instance_id, restore_id)
    assert rec["status"] == "succeed", rec
    assert dbsizes(server, range(16)) == aof_backup["sizes"]
    assert read_values(server, aof_backup["dataset"].sample) == aof_backup["values"]
    if aof_backup["digest"] is not None:
        assert debug_digest(server) == aof_backup["digest"], "DEBUG DIGEST differs from the backed-up dataset"
