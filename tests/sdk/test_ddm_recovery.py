"""DDM recovery through the official SDK: ``restore2_exist`` into another DDM instance over real mariadbd data
nodes (two source, two target), followed with ``show_ddm_job_result``; the refusals the SDK surfaces as
``ClientRequestException`` with the DDM code."""

from __future__ import annotations

import time
from datetime import datetime, timezone

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
    DataNodeRelation,
    Restore2ExistRequest,
    RestoreMetaData2ExistReq,
    RestoreMetaDataSource,
    RestoreMetaDataTarget,
    RestoreMetadataRequest,
    RestoreInst2ExistReq,
    RestoreInstSource,
    RestoreInstTarget,
    ShowAvalibleTimeRequest,
    ShowDdmJobResultRequest,
    ShowInstanceRequest,
)

from conftest import assert_sdk_error, stop_process
from ddm_support import ADMIN_PASSWORD, ADMIN_USER, install_mariadb_template, start_mariadb, call, ddm_client, wait_job


@pytest.fixture(scope="module")
def ddm(coffer):
    return ddm_client(coffer.url, coffer.admin_access_key, coffer.admin_secret_key, coffer.project_id)


@pytest.fixture(scope="module")
def four_nodes(tmp_path_factory: pytest.TempPathFactory):
    """Four real mariadbd data nodes (binary logging on): two sources, two targets."""
    base = tmp_path_factory.mktemp("mariadb-recovery")
    template = install_mariadb_template(base)
    nodes = []
    try:
        for i in range(4):
            nodes.append(start_mariadb(template, base / f"node{i}"))
        yield nodes
    finally:
        for node in nodes:
            stop_process(node.proc)


def next_second(margin: float = 0.15):
    now = time.time()
    time.sleep(int(now) + 1 + margin - now)


def instance_with_schema(ddm, name: str, schema: str, node_ids: list[str]) -> str:
    body = CreateInstanceReq(instance=CreateInstanceDetail(
        name=name, flavor_id="ddm.c6.large.2", node_num=2, engine_id="engine", available_zones=["az1"], vpc_id="vpc",
        security_group_id="sg", subnet_id="subnet"))
    instance_id = ddm.create_instance(CreateInstanceRequest(body=body)).id
    used = [DatabaseInstabcesParam(id=n, admin_user=ADMIN_USER, admin_password=ADMIN_PASSWORD) for n in node_ids]
    ddm.create_database(CreateDatabaseRequest(instance_id=instance_id, body=CreateDatabaseReq(databases=[
        CreateDatabaseDetail(name=schema, shard_mode="cluster", shard_number=2, used_rds=used)])))
    return instance_id


def restore(ddm, source: str, target: str, restore_time, relations):
    return ddm.restore2_exist(Restore2ExistRequest(instance_id=source, body=RestoreInst2ExistReq(
        source=RestoreInstSource(restore_time=restore_time), target=RestoreInstTarget(instance_id=target),
        data_node_relations=[DataNodeRelation(source_instance_id=s, target_instance_id=t) for s, t in relations])))


def test_restore2_exist_to_a_point_in_time(coffer, ddm, four_nodes):
    p = coffer.project_id
    ids = []
    for i, node in enumerate(four_nodes):
        r = call(coffer, "POST", f"/v3/{p}/data-nodes", {"name": f"sdk-rec-{i}", "private_ip": "127.0.0.1", "port": node.port})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    source = instance_with_schema(ddm, "sdk-rec-src", "sales", ids[:2])
    target = instance_with_schema(ddm, "sdk-rec-dst", "landing", ids[2:])
    for node, db in ((four_nodes[0], "sales_0000"), (four_nodes[1], "sales_0001")):
        node.sql(f"CREATE TABLE {db}.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO {db}.t VALUES (1),(2),(3)")
    r = call(coffer, "POST", f"/v3/{p}/instances/{source}/backups", {"name": "sdk-rec-cut"})
    assert r.status_code == 202, r.text
    assert wait_job(ddm, r.json()["job_id"]).status == "Completed"

    # Rows 4 and 5 after the cut, then T, then the disaster, then a later write so the archive reaches past T.
    next_second()
    for node, db in ((four_nodes[0], "sales_0000"), (four_nodes[1], "sales_0001")):
        node.sql(f"INSERT INTO {db}.t VALUES (4),(5)")
    next_second()
    t_ms = int(time.time() * 1000)
    for node, db in ((four_nodes[0], "sales_0000"), (four_nodes[1], "sales_0001")):
        node.sql(f"DELETE FROM {db}.t")
    next_second()
    for node, db in ((four_nodes[0], "sales_0000"), (four_nodes[1], "sales_0001")):
        node.sql(f"INSERT INTO {db}.t VALUES (6)")
    deadline = time.monotonic() + 60
    while True:
        for node in four_nodes[:2]:
            node.sql("FLUSH BINARY LOGS")
        windows = ddm.show_avalible_time(ShowAvalibleTimeRequest(instance_id=source)).restorable_time_intervals or []
        ends = [datetime.strptime(w.end_time, "%Y-%m-%dT%H:%M:%S%z").timestamp() * 1000 for w in windows]
        if any(end >= t_ms for end in ends):
            break
        assert time.monotonic() < deadline, f"the archive did not reach T within 60 s: {windows}"
        time.sleep(1)

    relations = [(ids[0], ids[2]), (ids[1], ids[3])]
    # A time before every backup: 400 DBS.280001 (a float, as the SDK models restore_time).
    with pytest.raises(ClientRequestException) as info:
        restore(ddm, source, target, 1000.0, relations)
    assert_sdk_error(info.value, 400, code="DBS.280001")

    job_id = restore(ddm, source, target, t_ms, relations).job_id
    assert ddm.show_instance(ShowInstanceRequest(instance_id=target)).status in ("RESTORE", "RUNNING")
    job = wait_job(ddm, job_id)
    assert job.status == "Completed", job
    assert job.name == "RestoreInstance"
    assert job.instance.id == target
    assert four_nodes[2].sql("SELECT id FROM sales_0000.t ORDER BY id").split() == ["1", "2", "3", "4", "5"]
    assert four_nodes[3].sql("SELECT id FROM sales_0001.t ORDER BY id").split() == ["1", "2", "3", "4", "5"]
    raw = call(coffer, "GET", f"/v3/{p}/jobs/{job_id}").json()["job"]
    assert raw["result"]["point"] == "point_in_time"

    # The target now has the source's schema: the same restore again is refused before anything is touched.
    with pytest.raises(ClientRequestException) as info:
        restore(ddm, source, target, t_ms, relations)
    assert_sdk_error(info.value, 400, code="DBS.300112")

    # restore_metadata: another instance over the restored nodes gets the schema (no data moves).
    other = instance_with_schema(ddm, "sdk-rec-meta", "landing2", ids[2:])
    loaded = ddm.restore_metadata(RestoreMetadataRequest(instance_id=source, body=RestoreMetaData2ExistReq(
        source=RestoreMetaDataSource(restore_time=t_ms), target=RestoreMetaDataTarget(instance_id=other, data_nodes=ids[2:]))))
    job = wait_job(ddm, loaded.job_id)
    assert job.status == "Completed", job
    assert job.name == "loadMetadata"
    schemas = call(coffer, "GET", f"/v1/{p}/instances/{other}/databases").json()["databases"]
    assert "sales" in [s["name"] for s in schemas]
    with pytest.raises(ClientRequestException) as info:
        ddm.restore_metadata(RestoreMetadataRequest(instance_id=source, body=RestoreMetaData2ExistReq(
            source=RestoreMetaDataSource(), target=RestoreMetaDataTarget(instance_id=other, data_nodes=ids[2:]))))
    assert_sdk_error(info.value, 400, code="DBS.280001")
