"""DDM through the official SDK (``huaweicloudsdkddm``): instances, schemas over real mariadbd data nodes,
Coffer's consistent backups, and the backup/job calls: show_backup (seed 000), list_backups, delete_backup,
show_ddm_job_result, list_instances, show_instance, and the restore helpers show_avalible_time, show_related_dns,
show_avalible_ddms and show_avalible_rds."""

from __future__ import annotations

import calendar
import re
import time
from datetime import datetime

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkddm.v1 import (
    CreateDatabaseDetail,
    CreateDatabaseReq,
    CreateDatabaseRequest,
    CreateInstanceDetail,
    CreateInstanceReq,
    CreateInstanceRequest,
    DatabaseInstabcesParam,
    DeleteBackupRequest,
    DeleteInstanceRequest,
    ListAvailableRdsRequest,
    ListAvailableRdsListRequest,
    ListBackupsRequest,
    ListInstancesRequest,
    ListTasksRequest,
    ShowBackupRequest,
    ShowDdmJobResultRequest,
    ShowInstanceRequest,
    ShowAvalibleDdmsRequest,
    ShowAvalibleRdsRequest,
    ShowAvalibleTimeRequest,
    ShowRelatedDnsRequest,
)

from conftest import assert_sdk_error, is_int
from ddm_support import ADMIN_PASSWORD, ADMIN_USER, call, ddm_client, mariadb_nodes, spare_mariadb_node, wait_job  # noqa: F401  (fixtures)

DDM_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0000$")
ID_RE = {suffix: re.compile(r"^[0-9a-f]{32}" + suffix + "$") for suffix in ("in01", "in09", "br09")}


@pytest.fixture(scope="module")
def ddm(coffer):
    return ddm_client(coffer.url, coffer.admin_access_key, coffer.admin_secret_key, coffer.project_id)


@pytest.fixture(scope="module")
def setup(coffer, ddm, mariadb_nodes):
    """Two data nodes, an instance (SDK create_instance) and a 4-shard schema (SDK create_database)."""
    p = coffer.project_id
    node_ids = []
    for i, node in enumerate(mariadb_nodes):
        r = call(coffer, "POST", f"/v3/{p}/data-nodes", {"name": f"sdk-dn-{i}", "private_ip": "127.0.0.1", "port": node.port})
        assert r.status_code == 201, r.text
        node_ids.append(r.json()["id"])
    body = CreateInstanceReq(instance=CreateInstanceDetail(
        name="sdk-ddm-01", flavor_id="ddm.c6.large.2", node_num=2, engine_id="engine", available_zones=["az1"],
        vpc_id="vpc", security_group_id="sg", subnet_id="subnet"))
    created = ddm.create_instance(CreateInstanceRequest(body=body))
    instance_id = created.id
    assert ID_RE["in09"].match(instance_id)
    used = [DatabaseInstabcesParam(id=n, admin_user=ADMIN_USER, admin_password=ADMIN_PASSWORD) for n in node_ids]
    ddm.create_database(CreateDatabaseRequest(instance_id=instance_id, body=CreateDatabaseReq(databases=[
        CreateDatabaseDetail(name="orders", shard_mode="cluster", shard_number=4, used_rds=used)])))
    mariadb_nodes[0].sql("CREATE TABLE orders_0000.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO orders_0000.t VALUES (1),(2),(3)")
    mariadb_nodes[1].sql("CREATE TABLE orders_0001.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO orders_0001.t VALUES (4)")
    r = call(coffer, "POST", f"/v3/{p}/instances/{instance_id}/backups", {"name": "sdk-first", "description": "from the SDK suite"})
    assert r.status_code == 202, r.text
    backup_id, job_id = r.json()["backup_id"], r.json()["job_id"]
    job = wait_job(ddm, job_id)
    assert job.status == "Completed", job
    return {"instance_id": instance_id, "node_ids": node_ids, "backup_id": backup_id, "job_id": job_id}


def test_schema_shards_are_created_on_the_nodes(setup, mariadb_nodes):
    assert mariadb_nodes[0].sql("SHOW DATABASES LIKE 'orders%'").split() == ["orders_0000", "orders_0002"]
    assert mariadb_nodes[1].sql("SHOW DATABASES LIKE 'orders%'").split() == ["orders_0001", "orders_0003"]


def test_show_instance_and_list_instances(ddm, setup):
    shown = ddm.show_instance(ShowInstanceRequest(instance_id=setup["instance_id"]))
    assert shown.id == setup["instance_id"]
    assert shown.name == "sdk-ddm-01"
    assert shown.status == "RUNNING"
    assert is_int(shown.to_json_object()["node_count"]) and shown.node_count == 2
    assert isinstance(shown.to_json_object()["access_port"], str)
    assert shown.enable_ssl is False
    assert DDM_TIME_RE.match(shown.created)
    listed = ddm.list_instances(ListInstancesRequest(offset=0, limit=10))
    assert setup["instance_id"] in [i.id for i in listed.instances]
    assert listed.total_record >= 1 and listed.page_no == 1 and listed.page_size == 10
    with pytest.raises(ClientRequestException) as info:
        ddm.show_instance(ShowInstanceRequest(instance_id="0" * 32 + "in09"))
    assert_sdk_error(info.value, 404, code_prefix="DBS.")


def test_list_available_rds(ddm, setup):
    rds = ddm.list_available_rds_list(ListAvailableRdsListRequest(instance_id=setup["instance_id"]))
    raw = rds.to_json_object()
    ids = [i["id"] for i in raw["instances"]]
    assert set(setup["node_ids"]) <= set(ids)
    assert raw["instances"][0]["engineName"] == "mariadb"  # camelCase on the wire


def test_available_data_nodes_v3(ddm, setup):
    page = ddm.list_available_rds(ListAvailableRdsRequest(instance_id=setup["instance_id"], offset=0, limit=10))
    raw = page.to_json_object()
    assert set(setup["node_ids"]) <= {n["id"] for n in raw["data_nodes"]}
    node = next(n for n in raw["data_nodes"] if n["id"] == setup["node_ids"][0])
    assert node["engine_name"] == "mariadb" and is_int(node["port"])


def test_restorable_time_intervals(ddm, setup, mariadb_nodes):
    """show_avalible_time: both nodes archive their binlog, so the backup's cut opens a window that grows with
    what is archived after it; an instance without backups has none; an unknown instance is 404 DBS.200002."""
    created = ddm.list_backups(ListBackupsRequest(backup_name="sdk-first")).backups[0].created
    mariadb_nodes[0].sql("INSERT INTO orders_0000.t VALUES (10)")
    mariadb_nodes[1].sql("INSERT INTO orders_0001.t VALUES (11)")
    # The archive publishes on rotation; rotate until both nodes' archives hold events seconds after the cut.
    deadline = time.monotonic() + 45
    while True:
        for node in mariadb_nodes:
            node.sql("FLUSH BINARY LOGS")
        shown = ddm.show_avalible_time(ShowAvalibleTimeRequest(instance_id=setup["instance_id"]))
        windows = shown.restorable_time_intervals or []
        if windows and windows[0].end_time > windows[0].start_time:
            break
        assert time.monotonic() < deadline, f"no window beyond the cut after 45 s: {shown}"
        time.sleep(1)
    raw = shown.to_json_object()
    assert set(raw) == {"restorable_time_intervals", "offset", "limit", "total"}
    assert is_int(raw["total"]) and shown.total == len(windows) and shown.offset == 0 and shown.limit == 10
    # The window opens at the backup's consistent point (when the locks were held), a moment after its creation.
    start = datetime.strptime(windows[0].start_time, "%Y-%m-%dT%H:%M:%S%z")
    assert 0 <= (start - datetime.strptime(created, "%Y-%m-%dT%H:%M:%S%z")).total_seconds() <= 10
    assert all(DDM_TIME_RE.match(w.start_time) and DDM_TIME_RE.match(w.end_time) for w in windows)

    body = CreateInstanceReq(instance=CreateInstanceDetail(
        name="sdk-ddm-windows", flavor_id="f", node_num=1, engine_id="e", available_zones=["az1"], vpc_id="v",
        security_group_id="s", subnet_id="n"))
    empty_id = ddm.create_instance(CreateInstanceRequest(body=body)).id
    empty = ddm.show_avalible_time(ShowAvalibleTimeRequest(instance_id=empty_id))
    assert empty.restorable_time_intervals == [] and empty.total == 0
    with pytest.raises(ClientRequestException) as info:
        ddm.show_avalible_time(ShowAvalibleTimeRequest(instance_id="0" * 32 + "in09"))
    assert_sdk_error(info.value, 404, code="DBS.200002")


def ddm_ms(text: str) -> int:
    """Epoch milliseconds of a DDM time (``2025-05-27T02:38:15+0000``, UTC)."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S+0000")) * 1000


def window_beyond_cut(ddm, instance_id: str):
    """The first restorable window once it reaches past the backup's cut (test_restorable_time_intervals made
    it so: rows written and binary logs rotated after the cut)."""
    windows = ddm.show_avalible_time(ShowAvalibleTimeRequest(instance_id=instance_id)).restorable_time_intervals or []
    assert windows and windows[0].end_time > windows[0].start_time, windows
    return windows[0]


def test_related_data_nodes_from_real_backups(ddm, setup):
    """show_related_dns: the backup's nodes for a time inside its window; none outside every window."""
    window = window_beyond_cut(ddm, setup["instance_id"])
    related = ddm.show_related_dns(ShowRelatedDnsRequest(instance_id=setup["instance_id"], restore_time=str(ddm_ms(window.end_time))))
    raw = related.to_json_object()
    assert set(raw) == {"related_data_nodes", "latest_restorable_time", "offset", "limit", "total"}
    assert [dn.instance_id for dn in related.related_data_nodes] == setup["node_ids"]
    assert [dn.instance_name for dn in related.related_data_nodes] == ["sdk-dn-0", "sdk-dn-1"]
    dn = related.related_data_nodes[0]
    assert dn.engine_name == "mariadb" and dn.instance_status == "normal" and dn.version
    assert isinstance(raw["related_data_nodes"][0]["data_volume_size"], (int, float)) and dn.data_volume_size > 0
    assert DDM_TIME_RE.match(related.latest_restorable_time)
    assert related.latest_restorable_time >= window.end_time
    assert related.total == 2 and related.offset == 0 and related.limit == 10
    before = ddm.show_related_dns(ShowRelatedDnsRequest(instance_id=setup["instance_id"], restore_time="1000"))
    assert before.related_data_nodes == [] and before.total == 0
    late = ddm.show_related_dns(ShowRelatedDnsRequest(instance_id=setup["instance_id"], restore_time=str(int(time.time() * 1000) + 3_600_000)))
    assert late.related_data_nodes == []
    with pytest.raises(ClientRequestException) as info:
        ddm.show_related_dns(ShowRelatedDnsRequest(instance_id=setup["instance_id"], restore_time="yesterday"))
    assert_sdk_error(info.value, 400, code="DBS.280001")
    with pytest.raises(ClientRequestException) as info:
        ddm.show_related_dns(ShowRelatedDnsRequest(instance_id="0" * 32 + "in09", restore_time="1000"))
    assert_sdk_error(info.value, 404, code="DBS.200002")


@pytest.fixture(scope="module")
def target(coffer, ddm, setup, spare_mariadb_node):
    """A restore target: another DDM instance whose schema `spare` lives on a third mariadbd."""
    p = coffer.project_id
    r = call(coffer, "POST", f"/v3/{p}/data-nodes", {"name": "sdk-dn-spare", "private_ip": "127.0.0.1", "port": spare_mariadb_node.port})
    assert r.status_code == 201, r.text
    node_id = r.json()["id"]
    body = CreateInstanceReq(instance=CreateInstanceDetail(
        name="sdk-ddm-target", flavor_id="ddm.c6.large.2", node_num=1, engine_id="engine", available_zones=["az1"],
        vpc_id="vpc-target", security_group_id="sg", subnet_id="subnet"))
    instance_id = ddm.create_instance(CreateInstanceRequest(body=body)).id
    used = [DatabaseInstabcesParam(id=node_id, admin_user=ADMIN_USER, admin_password=ADMIN_PASSWORD)]
    ddm.create_database(CreateDatabaseRequest(instance_id=instance_id, body=CreateDatabaseReq(databases=[
        CreateDatabaseDetail(name="spare", shard_mode="single", shard_number=1, used_rds=used)])))
    return {"instance_id": instance_id, "node_id": node_id}


def test_restorable_instances(ddm, setup, target):
    """show_avalible_ddms: the target is available; the source itself is not, and says why."""
    page = ddm.show_avalible_ddms(ShowAvalibleDdmsRequest(instance_id=setup["instance_id"], offset=0, limit=128))
    raw = page.to_json_object()
    assert set(raw) == {"instances", "offset", "limit", "total"}
    assert is_int(raw["total"]) and page.total == len(page.instances) and page.offset == 0 and page.limit == 128
    by_id = {i.instance_id: i for i in page.instances}
    assert {setup["instance_id"], target["instance_id"]} <= set(by_id)
    dst = by_id[target["instance_id"]]
    assert dst.available is True and dst.unavailable_reason == ""
    assert dst.instance_name == "sdk-ddm-target" and dst.status == "RUNNING" and dst.vpc_name == "vpc-target"
    src = by_id[setup["instance_id"]]
    assert src.available is False and src.unavailable_reason
    item = next(i for i in raw["instances"] if i["instance_id"] == target["instance_id"])
    assert isinstance(item["available"], bool)
    default = ddm.show_avalible_ddms(ShowAvalibleDdmsRequest(instance_id=setup["instance_id"]))
    assert default.offset == 0 and default.limit == 10
    with pytest.raises(ClientRequestException) as info:
        ddm.show_avalible_ddms(ShowAvalibleDdmsRequest(instance_id="0" * 32 + "in09"))
    assert_sdk_error(info.value, 404, code="DBS.200002")


def test_restorable_data_nodes(ddm, setup, target):
    """show_avalible_rds: the target's node can take source node 0's data inside the window; the source's own
    nodes cannot; a time outside every window and an unknown target are refused."""
    t = str(ddm_ms(window_beyond_cut(ddm, setup["instance_id"]).end_time))
    page = ddm.show_avalible_rds(ShowAvalibleRdsRequest(
        instance_id=setup["instance_id"], target_instance_id=target["instance_id"], source_dn_instance_id=setup["node_ids"][0],
        restore_time=t))
    raw = page.to_json_object()
    assert set(raw) == {"target_data_nodes", "offset", "limit", "total"}
    assert page.total == 1 and page.offset == 0 and page.limit == 10
    (dn,) = page.target_data_nodes
    assert dn.instance_id == target["node_id"] and dn.instance_name == "sdk-dn-spare"
    assert dn.available is True and dn.unavailable_reason == "" and isinstance(raw["target_data_nodes"][0]["available"], bool)
    assert dn.engine_name == "mariadb" and dn.private_ip == "127.0.0.1" and dn.status == "normal" and dn.vpc_name == "vpc-target"

    own = ddm.show_avalible_rds(ShowAvalibleRdsRequest(
        instance_id=setup["instance_id"], target_instance_id=setup["instance_id"], source_dn_instance_id=setup["node_ids"][0],
        restore_time=t))
    assert [n.instance_id for n in own.target_data_nodes] == setup["node_ids"]
    assert all(n.available is False and n.unavailable_reason for n in own.target_data_nodes)

    with pytest.raises(ClientRequestException) as info:
        ddm.show_avalible_rds(ShowAvalibleRdsRequest(
            instance_id=setup["instance_id"], target_instance_id=target["instance_id"], source_dn_instance_id=setup["node_ids"][0],
            restore_time="1000"))
    assert_sdk_error(info.value, 400, code="DBS.280001")
    with pytest.raises(ClientRequestException) as info:
        ddm.show_avalible_rds(ShowAvalibleRdsRequest(
            instance_id=setup["instance_id"], target_instance_id="0" * 32 + "in09", source_dn_instance_id=setup["node_ids"][0],
            restore_time=t))
    assert_sdk_error(info.value, 404, code="DBS.200002")


def test_show_backup_seed_000(ddm, setup):
    shown = ddm.show_backup(ShowBackupRequest(instance_id=setup["instance_id"], backup_id=setup["backup_id"]))
    raw = shown.to_json_object()
    assert set(raw) == {"id", "name", "instance_id", "instance_name", "related_data_nodes"}
    assert shown.id == setup["backup_id"] and ID_RE["br09"].match(shown.id)
    assert shown.name == "sdk-first"
    assert shown.instance_id == setup["instance_id"]
    assert shown.instance_name == "sdk-ddm-01"
    assert [dn.instance_id for dn in shown.related_data_nodes] == setup["node_ids"]
    assert [dn.instance_name for dn in shown.related_data_nodes] == ["sdk-dn-0", "sdk-dn-1"]


def test_show_backup_alias_and_errors(coffer, ddm, setup):
    p = coffer.project_id
    alias = call(coffer, "GET", f"/v3/{p}/backups/{setup['backup_id']}")
    assert alias.status_code == 200
    assert alias.json()["id"] == setup["backup_id"]
    with pytest.raises(ClientRequestException) as info:
        ddm.show_backup(ShowBackupRequest(instance_id=setup["instance_id"], backup_id="not-a-backup"))
    exc = assert_sdk_error(info.value, 400, code="DBS.280001")
    raw = call(coffer, "GET", f"/v3/{p}/instances/{setup['instance_id']}/backups/not-a-backup").json()
    assert raw["errCode"] == "DBS.280001" and raw["externalMessage"]
    with pytest.raises(ClientRequestException) as info:
        ddm.show_backup(ShowBackupRequest(instance_id=setup["instance_id"], backup_id="f" * 32 + "br09"))
    assert_sdk_error(info.value, 404, code_prefix="DBS.")
    with pytest.raises(ClientRequestException) as info:
        ddm.show_backup(ShowBackupRequest(instance_id="f" * 32 + "in09", backup_id=setup["backup_id"]))
    assert_sdk_error(info.value, 404, code_prefix="DBS.")
    assert exc.request_id


def test_list_backups(ddm, setup):
    page = ddm.list_backups(ListBackupsRequest(instance_id=setup["instance_id"], offset=0, limit=10))
    assert page.total >= 1 and page.offset == 0 and page.limit == 10
    backup = next(b for b in page.backups if b.id == setup["backup_id"])
    assert backup.status == "normal"
    assert backup.backup_type == "metadata"
    assert backup.description == "from the SDK suite"
    assert isinstance(backup.file_size, float) and backup.file_size > 0
    assert DDM_TIME_RE.match(backup.created) and DDM_TIME_RE.match(backup.updated)
    assert backup.instance_name == "sdk-ddm-01"
    by_name = ddm.list_backups(ListBackupsRequest(backup_name="sdk-first"))
    assert [b.id for b in by_name.backups] == [setup["backup_id"]]
    with pytest.raises(ClientRequestException) as info:
        ddm.list_backups(ListBackupsRequest(limit=129))
    assert_sdk_error(info.value, 400, code="DBS.280001")


def test_busy_instance_is_409(coffer, ddm, setup):
    p = coffer.project_id
    first = call(coffer, "POST", f"/v3/{p}/instances/{setup['instance_id']}/backups")
    assert first.status_code == 202
    second = call(coffer, "POST", f"/v3/{p}/instances/{setup['instance_id']}/backups")
    assert second.status_code == 409
    assert second.json()["error_code"] == "DBS.200019" and second.json()["errCode"] == "DBS.200019"
    assert wait_job(ddm, first.json()["job_id"]).status == "Completed"


def test_jobs(ddm, setup):
    job = ddm.show_ddm_job_result(ShowDdmJobResultRequest(job_id=setup["job_id"])).job
    assert job.id == setup["job_id"]
    assert job.status == "Completed"
    assert DDM_TIME_RE.match(job.created_time) and DDM_TIME_RE.match(job.end_time)
    assert job.instance.id == setup["instance_id"] and job.instance.name == "sdk-ddm-01"
    tasks = ddm.list_tasks(ListTasksRequest(start_time=0, end_time=time.time() * 1000 + 60000, offset=0, limit=128))
    assert setup["job_id"] in [j.id for j in tasks.jobs]


def test_delete_backup(ddm, setup, mariadb_nodes):
    r = ddm.delete_backup(DeleteBackupRequest(backup_id=setup["backup_id"]))
    assert r.status_code == 202
    job = wait_job(ddm, r.job_id)
    assert job.status == "Completed" and job.name == "deleteConsistentBackup"
    with pytest.raises(ClientRequestException) as info:
        ddm.show_backup(ShowBackupRequest(instance_id=setup["instance_id"], backup_id=setup["backup_id"]))
    assert_sdk_error(info.value, 404, code_prefix="DBS.")
    page = ddm.list_backups(ListBackupsRequest(backup_name="sdk-first"))
    assert [b.status for b in page.backups] == ["deleted"]


def test_delete_instance_keeps_or_drops_shards(coffer, ddm, mariadb_nodes):
    """Runs last in this module: a second instance with its own schema, deleted with delete_rds_data=true."""
    p = coffer.project_id
    body = CreateInstanceReq(instance=CreateInstanceDetail(
        name="sdk-ddm-02", flavor_id="f", node_num=1, engine_id="e", available_zones=["az1"], vpc_id="v",
        security_group_id="s", subnet_id="n"))
    instance_id = ddm.create_instance(CreateInstanceRequest(body=body)).id
    node_id = call(coffer, "POST", f"/v3/{p}/data-nodes", {"name": "sdk-dn-x", "private_ip": "127.0.0.1",
                                                          "port": mariadb_nodes[0].port}).json()["id"]
    ddm.create_database(CreateDatabaseRequest(instance_id=instance_id, body=CreateDatabaseReq(databases=[
        CreateDatabaseDetail(name="scratch", shard_mode="single", shard_number=1, used_rds=[
            DatabaseInstabcesParam(id=node_id, admin_user=ADMIN_USER, admin_password=ADMIN_PASSWORD)])])))
    assert mariadb_nodes[0].sql("SHOW DATABASES LIKE 'scratch%'").split() == ["scratch_0000"]
    deleted = ddm.delete_instance(DeleteInstanceRequest(instance_id=instance_id, delete_rds_data="true"))
    assert deleted.id == instance_id
    # Dropping the shards is a job (DeleteInstance), as on Huawei; the SDK's model keeps only `id`, so find the job
    # in the task list and wait for it.
    tasks = ddm.list_tasks(ListTasksRequest(start_time=0, end_time=int(time.time() * 1000) + 60000, offset=0, limit=128)).jobs
    job_id = next(j.id for j in tasks if j.name == "DeleteInstance" and j.instance_id == instance_id)
    job = wait_job(ddm, job_id)
    assert job.status == "Completed", job
    assert mariadb_nodes[0].sql("SHOW DATABASES LIKE 'scratch%'").split() == []
    with pytest.raises(ClientRequestException) as info:
        ddm.show_instance(ShowInstanceRequest(instance_id=instance_id))
    assert_sdk_error(info.value, 404, code_prefix="DBS.")
