"""A Redis Cluster instance through the official SDK: create_instance adopts a 3-master + 3-replica cluster by one
replica's address, show_instance reports it (`cache_mode` cluster, `sharding_count` 3, `replica_count` 2), and
copy_instance makes one backup whose list_backup_file_links gives three links, one per shard, named
`redis_<ip>_<port>_<start>-<end>_<time>.rdb`; each download is a valid RDB holding exactly its shard's keys; and
restore_instance puts the backup back by hash slot after the keys were changed."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
import requests

from conftest import RedisFactory, RedisServer, create_adopting_instance, free_port, redis_command
from test_dcs_backups import copy_instance, create_links, show_raw, unique_name, wait_for_backup
from test_dcs_restores import restore, wait_for_restore

PASSWORD = "cluster-pw"
LINK_NAME = re.compile(r"^redis_127\.0\.0\.1_(\d+)_(\d+)-(\d+)_(\d{14})\.rdb$")


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: str) -> int:
    raw = key.encode()
    start = raw.find(b"{")
    if start >= 0:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1:end]
    return crc16(raw) % 16384


@pytest.fixture(scope="module")
def cluster(redis_factory: RedisFactory) -> list[RedisServer]:
    if shutil.which("redis-cli") is None:
        pytest.skip("redis-cli is not installed")
    args = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "3000",
            "--masterauth", PASSWORD, "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0")
    # The bus port is the port + 10000 by default, which a free port above 55535 does not have.
    nodes = [redis_factory.start(password=PASSWORD, extra_args=args + ("--cluster-port", str(free_port()))) for _ in range(6)]
    created = subprocess.run(["redis-cli", "-a", PASSWORD, "--no-auth-warning", "--cluster", "create",
                              *[n.address for n in nodes], "--cluster-replicas", "1", "--cluster-yes"],
                             capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stdout + created.stderr
    deadline = time.monotonic() + 60
    while True:
        infos = [n.command("CLUSTER", "INFO") for n in nodes]
        links = [n.command("INFO", "replication") for n in nodes]
        # Every node must also know all six: right after `--cluster create` gossip may not have told one node of a
        # replica yet, and a topology read through it would miss that replica.
        if all("cluster_state:ok" in i and "cluster_known_nodes:6\r" in i for i in infos) and \
                sum("role:master" in r for r in links) == 3 and \
                all("role:master" in r or "master_link_status:up" in r for r in links):
            break
        assert time.monotonic() < deadline, "the cluster did not become ready"
        time.sleep(0.2)
    return nodes


def masters_by_slot(nodes: list[RedisServer]) -> list[tuple[range, RedisServer]]:
    owners = []
    for start, end, master, *_ in nodes[0].command("CLUSTER", "SLOTS"):
        port = master[1]
        owners.append((range(start, end + 1), next(n for n in nodes if n.port == port)))
    return owners


def test_cluster_instance_backup_and_links(dcs, cluster: list[RedisServer], tmp_path):
    owners = masters_by_slot(cluster)
    keys = [f"sdk:{i}" for i in range(3000)]
    for key in keys:
        owner = next(server for slots, server in owners if key_slot(key) in slots)
        assert redis_command(owner.port, "SET", key, "v" * 16, password=PASSWORD) == "OK"
    replica = next(n for n in cluster if "role:slave" in n.command("INFO", "replication"))
    instance_id = create_adopting_instance(dcs, unique_name("cluster"), replica).instances[0].instance_id

    # Show reads the topology again each time. Right after `--cluster create` a node may not yet report every
    # replica as online (gossip), so wait (bounded) until the shown deployment has all six nodes.
    deadline = time.monotonic() + 20
    shown = show_raw(dcs, instance_id)
    while len(shown["backend_addrs"].split(",")) < len(cluster) and time.monotonic() < deadline:
        time.sleep(0.5)
        shown = show_raw(dcs, instance_id)
    assert shown["status"] == "RUNNING", shown
    assert shown["cache_mode"] == "cluster" and shown["sharding_count"] == 3 and shown["replica_count"] == 2, shown
    assert sorted(shown["backend_addrs"].split(",")) == sorted(n.address for n in cluster), shown

    backup_id = copy_instance(dcs, instance_id, remark="cluster")
    rec, _ = wait_for_backup(dcs, instance_id, backup_id)
    assert rec["status"] == "succeed", rec

    resp = create_links(dcs, instance_id, backup_id, 600)
    assert resp.status_code == 200
    assert len(resp.links) == 3, resp.to_json_object()
    seen: dict[str, int] = {}
    total = 0
    covered = 0
    for item in resp.links:
        match = LINK_NAME.match(item.file_name)
        assert match, item.file_name
        start, end = int(match.group(2)), int(match.group(3))
        covered += end - start + 1
        got = requests.get(item.link, timeout=60)
        assert got.status_code == 200
        total += len(got.content)
        path = tmp_path / item.file_name
        path.write_bytes(got.content)
        check = subprocess.run(["redis-check-rdb", str(path)], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        # Load the shard's file into a fresh server: its keys are exactly the dataset's keys of those slots.
        loaded = RedisFactory(binary=shutil.which("redis-server"), base_dir=tmp_path / f"load-{start}").start(rdb_file=path)
        try:
            shard_keys = set(loaded.command("KEYS", "*"))
        finally:
            loaded.proc.terminate()
            loaded.proc.wait(timeout=10)
        assert shard_keys == {k for k in keys if start <= key_slot(k) <= end}, item.file_name
        for key in shard_keys:
            seen[key] = seen.get(key, 0) + 1
    assert covered == 16384
    assert sorted(seen) == sorted(keys) and set(seen.values()) == {1}
    assert total == rec["size"], (total, rec["size"])
    assert rec["is_support_restore"] == "TRUE", rec

    # Changes after the backup on every shard, then the restore through the SDK: every key as it was, no other.
    for key in keys[:500]:
        owner = next(server for slots, server in owners if key_slot(key) in slots)
        assert redis_command(owner.port, "DEL", key, password=PASSWORD) == 1
    for i in range(300):
        key = f"after:{i}"
        owner = next(server for slots, server in owners if key_slot(key) in slots)
        assert redis_command(owner.port, "SET", key, "new", password=PASSWORD) == "OK"
    restore_id = restore(dcs, instance_id, backup_id, remark="by slot")
    record, _ = wait_for_restore(dcs, instance_id, restore_id)
    assert record["status"] == "succeed" and record["progress"] == "100.00", record
    restored: set[str] = set()
    for _, master in owners:
        restored.update(master.command("KEYS", "*"))
    assert restored == set(keys)
