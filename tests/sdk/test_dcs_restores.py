"""DCS restores through the official SDK (reference 2.6, 2.7, 7.0, 7.1.3) against real redis-server processes.

* ``restore_instance`` answers ``{"restore_id"}`` at once; the record moves ``waiting`` → ``restoring`` →
  ``succeed`` | ``failed`` in ``list_restore_records`` and the Redis server then holds exactly the backup's data.
* ``list_restore_records`` pages, filters by time and types every ``InstanceRestoreInfo`` field like the backup list
  (records inserted straight into the SQLite store, at chosen past times).
* Busy codes: a restore while a backup runs → ``DCS.4096``; a backup or a restore while a restore runs → ``DCS.4097``.
* ``create_migration_task`` (``backupfile_import`` of a backup record) restores into another instance;
  ``show_migration_task``, ``list_migration_task`` and ``delete_migration_task`` follow it.

Restores and backups are slowed down where a test needs one to be running with ``CONFIG SET rdb-key-save-delay``
(the restore engine first takes a safety snapshot of the target, which that setting slows down as well).
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdcs.v2 import (
    BackupFilesBody,
    CreateMigrationTaskBody,
    CreateMigrationTaskRequest,
    DeleteMigrateTaskRequest,
    DeleteMigrationTaskRequest,
    ListMigrationTaskRequest,
    ListRestoreRecordsRequest,
    RestoreInstanceBody,
    RestoreInstanceRequest,
    ShowMigrationTaskRequest,
    TargetInstanceBody,
)

from conftest import (
    DCS_TIME_RE,
    RedisFactory,
    assert_sdk_error,
    create_adopting_instance,
    epoch_ms,
    insert_backup_record,
    is_int,
    query_time,
)
from test_dcs_backups import (
    PROGRESS_RE,
    SLOW_DELAY_US,
    Resp,
    backup_redis_args,
    copy_instance,
    dbsizes,
    debug_digest,
    fill_slow,
    load_dataset,
    read_values,
    show_raw,
    unique_name,
    wait_for_backup,
)

RESTORE_DONE_TIMEOUT_S = 90.0
POLL_INTERVAL_S = 0.1
RESTORE_NAME_RE = re.compile(r"^restore_\d{17}$")
RESTORE_KEYS = {"restore_id", "restore_name", "backup_id", "backup_name", "created_at", "updated_at", "progress", "status"}
RESTORE_COLUMNS = ("id", "project_id", "instance_id", "backup_id", "backup_instance_id", "backup_name", "backup_remark", "name",
                   "remark", "status", "progress", "error_code", "checkpoint", "task_name", "task_description", "created_at",
                   "updated_at")


# --------------------------------------------------------------------------------------------------- helpers


def restore(dcs, instance_id: str, backup_id: str, remark: Optional[str] = None) -> str:
    resp = dcs.restore_instance(RestoreInstanceRequest(instance_id=instance_id,
                                                       body=RestoreInstanceBody(backup_id=backup_id, remark=remark)))
    assert resp.status_code == 200, resp.status_code
    raw = resp.to_json_object()
    assert set(raw) == {"restore_id"} and str(uuid.UUID(raw["restore_id"])) == raw["restore_id"], raw
    assert resp.restore_id == raw["restore_id"]
    return raw["restore_id"]


def list_raw(dcs, instance_id: str, **params: Any) -> dict:
    resp = dcs.list_restore_records(ListRestoreRecordsRequest(instance_id=instance_id, **params))
    assert resp.status_code == 200, resp.status_code
    raw = resp.to_json_object()
    assert set(raw) == {"total_num", "restore_record_response"}, raw
    assert is_int(raw["total_num"]) and isinstance(raw["restore_record_response"], list), raw
    return raw


def restore_record(dcs, instance_id: str, restore_id: str) -> dict:
    matches = [r for r in list_raw(dcs, instance_id, limit=1000)["restore_record_response"] if r["restore_id"] == restore_id]
    assert len(matches) == 1, f"restore {restore_id} listed {len(matches)} times"
    return matches[0]


def wait_for_restore(dcs, instance_id: str, restore_id: str) -> tuple[dict, list[str]]:
    """Poll list_restore_records until the record is final; returns it and the statuses seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + RESTORE_DONE_TIMEOUT_S
    while True:
        rec = restore_record(dcs, instance_id, restore_id)
        assert isinstance(rec["progress"], str) and PROGRESS_RE.match(rec["progress"]), rec
        if not seen or seen[-1] != rec["status"]:
            seen.append(rec["status"])
        if rec["status"] in ("succeed", "failed"):
            return rec, seen
        assert rec["status"] in ("waiting", "restoring"), rec
        assert time.monotonic() < deadline, f"restore {restore_id} still {rec['status']}: {rec}"
        time.sleep(POLL_INTERVAL_S)


def insert_restore_record(data_dir: Path, *, project_id: str, instance_id: str, backup_id: str, created_at_ms: int,
                          **overrides: Any) -> dict:
    """One row of ``dcs_restores`` in ``<data_dir>/coffer.sqlite`` (typed: progress in hundredths); returns it with
    the wire form of progress."""
    created = datetime.fromtimestamp(created_at_ms / 1000, tz=timezone.utc)
    row = dict(id=str(uuid.uuid4()), project_id=project_id, instance_id=instance_id, backup_id=backup_id,
               backup_instance_id=instance_id, backup_name="backup_20240301000000000", backup_remark=None,
               name="restore_" + created.strftime("%Y%m%d%H%M%S") + f"{created_at_ms % 1000:03d}", remark=None,
               status="succeed", progress="100.00", error_code=None, checkpoint=None, task_name=None,
               task_description=None, created_at=created_at_ms, updated_at=created_at_ms + 3_000)
    unknown = set(overrides) - set(row)
    assert not unknown, f"unknown dcs_restores columns {unknown}"
    row.update(overrides)
    stored = dict(row, progress=round(float(row["progress"]) * 100))
    conn = sqlite3.connect(str(data_dir / "coffer.sqlite"), timeout=30)
    try:
        with conn:
            conn.execute(f"INSERT INTO dcs_restores ({', '.join(RESTORE_COLUMNS)}) "
                         f"VALUES ({', '.join('?' for _ in RESTORE_COLUMNS)})", [stored[c] for c in RESTORE_COLUMNS])
    finally:
        conn.close()
    return row


def migration_body(backup_id: str, target_id: str, **overrides: Any) -> CreateMigrationTaskBody:
    fields = dict(task_name=unique_name("import"), description="restore into another instance",
                  migration_type="backupfile_import", migration_method="full_amount_migration",
                  backup_files=BackupFilesBody(file_source="backup_record", backup_id=backup_id),
                  target_instance=TargetInstanceBody(id=target_id))
    fields.update(overrides)
    return CreateMigrationTaskBody(**fields)


def mutate(server) -> None:
    """Keys written after the backup, keys deleted, values and TTLs changed: the restore must undo all of it."""
    with Resp(server) as conn:
        conn.pipeline([("SET", "after-backup", "x"), ("DEL", "str:00001", "hash:0001"), ("SET", "str:00002", "changed"),
                       ("PERSIST", "str:00010"), ("SELECT", 7), ("RPUSH", "db7-list", "a"), ("SELECT", 0)])


# --------------------------------------------------------------------------------------------------- restores


@pytest.fixture(scope="module")
def backed_up(dcs, redis_factory: RedisFactory, redis_version: str) -> dict:
    """An adopted redis with the backup test dataset, one finished backup of it, and what it held then."""
    server = redis_factory.start(password="restore-pw", extra_args=backup_redis_args("yes", redis_version))
    dataset = load_dataset(server)
    instance_id = create_adopting_instance(dcs, unique_name("restore"), server).instances[0].instance_id
    backup_id = copy_instance(dcs, instance_id, remark="before the mistake")
    rec, _ = wait_for_backup(dcs, instance_id, backup_id)
    assert rec["status"] == "succeed", rec
    return dict(server=server, instance_id=instance_id, backup_id=backup_id, dataset=dataset,
                digest=debug_digest(server), sizes=dbsizes(server, range(16)),
                values=read_values(server, dataset.sample))


def test_restore_puts_the_backup_back(dcs, backed_up):
    server, instance_id = backed_up["server"], backed_up["instance_id"]
    mutate(server)
    assert dbsizes(server, range(16)) != backed_up["sizes"]
    restore_id = restore(dcs, instance_id, backed_up["backup_id"], remark="undo")
    rec, seen = wait_for_restore(dcs, instance_id, restore_id)
    assert rec["status"] == "succeed", rec
    assert seen[0] in ("waiting", "restoring") and set(seen) <= {"waiting", "restoring", "succeed"}, seen
    assert rec["progress"] == "100.00" and "error_code" not in rec, rec
    assert dbsizes(server, range(16)) == backed_up["sizes"]
    assert read_values(server, backed_up["dataset"].sample) == backed_up["values"]
    if backed_up["digest"] is not None:
        assert debug_digest(server) == backed_up["digest"], "DEBUG DIGEST differs from the backed-up dataset"
    assert show_raw(dcs, instance_id).get("task") is None
    with Resp(server) as conn:  # clients can write again
        assert conn.call("SET", "after-restore", "1") == "OK"
        conn.call("DEL", "after-restore")


def test_restore_record_wire_types(dcs, backed_up):
    raw = list_raw(dcs, backed_up["instance_id"], limit=1000)
    assert raw["total_num"] >= 1
    rec = raw["restore_record_response"][0]
    assert set(rec) >= RESTORE_KEYS, rec
    assert all(isinstance(v, str) for v in rec.values()), rec
    assert RESTORE_NAME_RE.match(rec["restore_name"]), rec
    assert DCS_TIME_RE.match(rec["created_at"]) and DCS_TIME_RE.match(rec["updated_at"]), rec
    assert rec["backup_id"] == backed_up["backup_id"] and rec["backup_name"].startswith("backup_"), rec
    assert rec["backup_remark"] == "before the mistake" and rec["restore_remark"] == "undo", rec
    model = dcs.list_restore_records(ListRestoreRecordsRequest(instance_id=backed_up["instance_id"])).restore_record_response[0]
    assert model.restore_id == rec["restore_id"] and model.progress == "100.00" and model.status == "succeed"


def test_restore_validation(coffer, dcs, backed_up):
    instance_id = backed_up["instance_id"]
    with pytest.raises(ClientRequestException) as e:
        restore(dcs, instance_id, str(uuid.uuid4()))
    assert_sdk_error(e.value, 400, "DCS.4800")
    with pytest.raises(ClientRequestException) as e:
        restore(dcs, instance_id, backed_up["backup_id"], remark="r" * 129)
    assert_sdk_error(e.value, 400, "DCS.4098")
    with pytest.raises(ClientRequestException) as e:
        restore(dcs, str(uuid.uuid4()), backed_up["backup_id"])
    assert_sdk_error(e.value, 404, "DCS.3022")
    failed = insert_backup_record(coffer.data_dir, project_id=coffer.project_id, instance_id=instance_id,
                                  created_at_ms=epoch_ms(datetime(2024, 1, 1, tzinfo=timezone.utc)), status="failed",
                                  error_code="dcs.08.0001", is_support_restore="FALSE", progress="0.00", size=0)
    with pytest.raises(ClientRequestException) as e:
        restore(dcs, instance_id, failed["id"])
    assert_sdk_error(e.value, 400, "DCS.4087")


def test_busy_codes(dcs, redis_factory: RedisFactory, redis_version: str):
    server = redis_factory.start(password="busy-pw", extra_args=backup_redis_args("yes", redis_version))
    fill_slow(server)
    instance_id = create_adopting_instance(dcs, unique_name("busy-restore"), server).instances[0].instance_id
    backup_id = copy_instance(dcs, instance_id)
    assert wait_for_backup(dcs, instance_id, backup_id)[0]["status"] == "succeed"
    server.command("CONFIG", "SET", "rdb-key-save-delay", str(SLOW_DELAY_US))
    try:
        # A backup runs (its snapshot takes about 3 s): a restore is DCS.4096.
        running_backup = copy_instance(dcs, instance_id)
        with pytest.raises(ClientRequestException) as e:
            restore(dcs, instance_id, backup_id)
        assert_sdk_error(e.value, 400, "DCS.4096")
        wait_for_backup(dcs, instance_id, running_backup)
        # A restore runs (its safety snapshot of the target is slowed down the same way): backup and restore are DCS.4097.
        restore_id = restore(dcs, instance_id, backup_id)
        assert show_raw(dcs, instance_id).get("task") == "RESTORING"
        with pytest.raises(ClientRequestException) as e:
            copy_instance(dcs, instance_id)
        assert_sdk_error(e.value, 400, "DCS.4097")
        with pytest.raises(ClientRequestException) as e:
            restore(dcs, instance_id, backup_id)
        assert_sdk_error(e.value, 400, "DCS.4097")
    finally:
        server.command("CONFIG", "SET", "rdb-key-save-delay", "0")
    rec, _ = wait_for_restore(dcs, instance_id, restore_id)
    assert rec["status"] == "succeed", rec


# --------------------------------------------------------------------------------------------------- the list


BASE = datetime(2024, 3, 1, 0, 0, 0, tzinfo=timezone.utc)
COUNT = 15


@pytest.fixture(scope="module")
def listed(coffer, dcs, redis_factory: RedisFactory) -> tuple[str, list[dict]]:
    instance_id = create_adopting_instance(dcs, unique_name("restores"), redis_factory.start(password=None)).instances[0].instance_id
    rows = []
    for i in range(COUNT):
        fields: dict[str, Any] = dict(remark=f"r{i:02d}", backup_remark="nightly")
        if i == 4:
            fields.update(status="failed", error_code="dcs.08.0007", progress="42.10", remark=None)
        rows.append(insert_restore_record(coffer.data_dir, project_id=coffer.project_id, instance_id=instance_id,
                                          backup_id=str(uuid.uuid4()),
                                          created_at_ms=epoch_ms(BASE + timedelta(hours=i, milliseconds=7 * i + 1)), **fields))
    return instance_id, sorted(rows, key=lambda r: r["created_at"], reverse=True)


def test_restore_list_paging(dcs, listed):
    instance_id, rows = listed
    pages = [list_raw(dcs, instance_id, limit=6, offset=o) for o in (0, 6, 12, 30)]
    assert [p["total_num"] for p in pages] == [COUNT] * 4
    seen = [r["restore_id"] for p in pages for r in p["restore_record_response"]]
    assert seen == [r["id"] for r in rows], "every record once, newest first"
    assert [r["restore_id"] for r in list_raw(dcs, instance_id)["restore_record_response"]] == [r["id"] for r in rows[:10]]


def test_restore_list_time_filter(dcs, listed):
    instance_id, rows = listed
    raw = list_raw(dcs, instance_id, begin_time=query_time(BASE + timedelta(hours=2)),
                   end_time=query_time(BASE + timedelta(hours=5)), limit=1000)
    # end_time names a whole second: the record 5 h + 36 ms after BASE is inside.
    assert raw["total_num"] == 4
    low, high = epoch_ms(BASE + timedelta(hours=2)), epoch_ms(BASE + timedelta(hours=5)) + 999
    assert [r["restore_id"] for r in raw["restore_record_response"]] == [r["id"] for r in rows if low <= r["created_at"] <= high]
    assert list_raw(dcs, instance_id, begin_time="20300101000000") == {"total_num": 0, "restore_record_response": []}
    for params, code in [(dict(limit=0), "DCS.4800"), (dict(limit=1001), "DCS.4800"), (dict(begin_time="2024"), "DCS.4800"),
                         (dict(begin_time="20240302000000", end_time="20240301000000"), "DCS.4025")]:
        with pytest.raises(ClientRequestException) as e:
            list_raw(dcs, instance_id, **params)
        assert_sdk_error(e.value, 400, code)


def test_restore_list_exact_types(dcs, listed):
    instance_id, rows = listed
    records = {r["restore_id"]: r for r in list_raw(dcs, instance_id, limit=1000)["restore_record_response"]}
    for row in rows:
        rec = records[row["id"]]
        assert set(rec) >= RESTORE_KEYS and all(isinstance(v, str) for v in rec.values()), rec
        assert rec["restore_name"] == row["name"] and RESTORE_NAME_RE.match(rec["restore_name"])
        assert rec["backup_name"] == row["backup_name"] and rec["backup_remark"] == "nightly"
        assert rec["progress"] == row["progress"] and rec["status"] == row["status"]
        assert rec.get("restore_remark") == row["remark"]
        assert rec.get("error_code") == row["error_code"]
        assert DCS_TIME_RE.match(rec["created_at"]) and DCS_TIME_RE.match(rec["updated_at"])


# --------------------------------------------------------------------------------------------------- migration tasks


def test_migration_task_lifecycle(dcs, backed_up, redis_factory: RedisFactory, redis_version: str):
    target = redis_factory.start(password="target-pw", extra_args=backup_redis_args("yes", redis_version))
    with Resp(target) as conn:
        conn.call("SET", "only-on-target", "gone after the import")
    target_id = create_adopting_instance(dcs, unique_name("target"), target).instances[0].instance_id
    body = migration_body(backed_up["backup_id"], target_id)
    created = dcs.create_migration_task(CreateMigrationTaskRequest(body=body))
    raw = created.to_json_object()
    assert set(raw) == {"id", "name", "status"} and raw["name"] == body.task_name and raw["status"] == "MIGRATING", raw
    task_id = raw["id"]

    deadline = time.monotonic() + RESTORE_DONE_TIMEOUT_S
    while True:
        shown = dcs.show_migration_task(ShowMigrationTaskRequest(task_id=task_id))
        if shown.status in ("SUCCESS", "FAILED"):
            break
        assert shown.status == "MIGRATING", shown
        assert time.monotonic() < deadline, "the migration task never finished"
        time.sleep(POLL_INTERVAL_S)
    assert shown.status == "SUCCESS", shown.to_json_object()
    assert shown.task_id == task_id and shown.task_name == body.task_name and shown.description == body.description
    assert shown.migration_type == "backupfile_import" and shown.migration_method == "full_amount_migration"
    assert shown.backup_files.backup_id == backed_up["backup_id"] and shown.backup_files.file_source == "backup_record"
    assert shown.target_instance.id == target_id
    assert DCS_TIME_RE.match(shown.created_at) and DCS_TIME_RE.match(shown.updated_at)
    assert dbsizes(target, range(16)) == backed_up["sizes"]
    assert read_values(target, backed_up["dataset"].sample) == backed_up["values"]
    if backed_up["digest"] is not None:
        assert debug_digest(target) == backed_up["digest"]

    listed = dcs.list_migration_task(ListMigrationTaskRequest(offset=0, limit=10, name=body.task_name))
    assert listed.count == 1 and listed.migration_tasks[0].task_id == task_id, listed.to_json_object()
    item = listed.migration_tasks[0]
    assert item.status == "SUCCESS" and item.target_instance_id == target_id and item.migration_type == "backupfile_import"

    deleted = dcs.delete_migration_task(DeleteMigrationTaskRequest(body=DeleteMigrateTaskRequest(task_id_list=[task_id])))
    assert deleted.task_id_list == [task_id]
    with pytest.raises(ClientRequestException) as e:
        dcs.show_migration_task(ShowMigrationTaskRequest(task_id=task_id))
    assert_sdk_error(e.value, 400, "DCS.4800")
    assert dcs.list_migration_task(ListMigrationTaskRequest(name=body.task_name)).count == 0


def test_migration_task_validation(dcs, backed_up):
    target_id = backed_up["instance_id"]
    for overrides in (dict(migration_type="online_migration"), dict(migration_method="incremental_migration"),
                      dict(backup_files=BackupFilesBody(file_source="self_build_obs", backup_id=backed_up["backup_id"])),
                      dict(backup_files=BackupFilesBody(file_source="backup_record", backup_id=str(uuid.uuid4())))):
        with pytest.raises(ClientRequestException) as e:
            dcs.create_migration_task(CreateMigrationTaskRequest(body=migration_body(backed_up["backup_id"], target_id, **overrides)))
        assert_sdk_error(e.value, 400, "DCS.4800")
    with pytest.raises(ClientRequestException) as e:
        dcs.create_migration_task(CreateMigrationTaskRequest(body=migration_body(backed_up["backup_id"], str(uuid.uuid4()))))
    assert_sdk_error(e.value, 404, "DCS.3022")
    with pytest.raises(ClientRequestException) as e:
        dcs.show_migration_task(ShowMigrationTaskRequest(task_id="not-a-uuid"))
    assert_sdk_error(e.value, 400, "DCS.4070")
