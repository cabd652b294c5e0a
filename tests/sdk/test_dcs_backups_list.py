"""ListBackupRecords (the seed, reference 2.2) through the official SDK.

Records are inserted straight into the SQLite store (``insert_backup_record`` in conftest): these tests need many
records at chosen past times and in every status, which copy_instance cannot make. Real backups are listed in
test_dcs_backups.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdcs.v2 import ListBackupRecordsRequest

from conftest import (
    DCS_TIME_RE,
    assert_sdk_error,
    create_adopting_instance,
    dcs_client,
    dcs_time,
    epoch_ms,
    insert_backup_record,
    is_int,
    query_time,
    signed_request,
)

BASE = datetime(2024, 3, 1, 0, 0, 0, tzinfo=timezone.utc)
COUNT = 25
FAILED, DELETED, HUGE, NO_REMARK = 3, 7, 12, 20


def created_at(i: int) -> datetime:
    """Record i is created i hours after BASE, plus a few milliseconds (so the millisecond part is exercised)."""
    return BASE + timedelta(hours=i, milliseconds=7 * i + 1)


@pytest.fixture(scope="module")
def backup_instance(dcs, redis_factory) -> str:
    return create_adopting_instance(dcs, "backups-01", redis_factory.start(password=None)).instances[0].instance_id


@pytest.fixture(scope="module")
def records(coffer, backup_instance) -> list[dict]:
    """25 records with distinct created_at, varied like real ones. Returned newest first."""
    rows = []
    for i in range(COUNT):
        ms = epoch_ms(created_at(i))
        fields = dict(remark=f"r{i:02d}", size=880232 + i)
        if i % 2 == 0:
            fields.update(backup_type="auto", period="1,3,5 00:00-01:00", execution_at=ms)
        if i == FAILED:
            fields.update(status="failed", error_code="dcs.08.0002", is_support_restore="FALSE", progress="0.00",
                          size=0)
        if i == DELETED:
            fields.update(status="deleted", is_support_restore="FALSE")
        if i == HUGE:
            fields.update(size=5_000_000_000)  # does not fit in 32 bits
        if i == NO_REMARK:
            fields.update(remark=None)
        rows.append(insert_backup_record(coffer.data_dir, project_id=coffer.project_id, instance_id=backup_instance,
                                         created_at_ms=ms, **fields))
    # Records of another instance id in the same project must never show up.
    other = str(uuid.uuid4())
    for i in range(2):
        insert_backup_record(coffer.data_dir, project_id=coffer.project_id, instance_id=other,
                             created_at_ms=epoch_ms(created_at(i)) + 500)
    return sorted(rows, key=lambda r: r["created_at"], reverse=True)


def list_raw(dcs, instance_id: str, **params) -> dict:
    resp = dcs.list_backup_records(ListBackupRecordsRequest(instance_id=instance_id, **params))
    assert resp.status_code == 200, resp.status_code
    raw = resp.to_json_object()
    assert set(raw) >= {"total_num", "backup_record_response"}, raw
    assert is_int(raw["total_num"]) and isinstance(raw["backup_record_response"], list), raw
    return raw


def ids(raw: dict) -> list[str]:
    return [r["backup_id"] for r in raw["backup_record_response"]]


# ----------------------------------------------------------------------------------------------- paging


def test_pages_cover_all_records_newest_first(dcs, backup_instance, records):
    pages = [list_raw(dcs, backup_instance, limit=10, offset=offset) for offset in (0, 10, 20)]
    assert [p["total_num"] for p in pages] == [COUNT] * 3, "total_num is the total, on every page"
    assert [len(p["backup_record_response"]) for p in pages] == [10, 10, 5]
    seen = [bid for p in pages for bid in ids(p)]
    assert len(seen) == len(set(seen)) == COUNT, "no duplicates across pages"
    assert seen == [r["id"] for r in records], "newest first"
    times = [r["created_at"] for p in pages for r in p["backup_record_response"]]
    assert times == sorted(times, reverse=True)


def test_default_paging_is_offset_0_limit_10(dcs, backup_instance, records):
    raw = list_raw(dcs, backup_instance)
    assert raw["total_num"] == COUNT
    assert ids(raw) == [r["id"] for r in records[:10]]


def test_limit_1000_returns_everything(dcs, backup_instance, records):
    raw = list_raw(dcs, backup_instance, limit=1000, offset=0)
    assert raw["total_num"] == COUNT and ids(raw) == [r["id"] for r in records]


@pytest.mark.parametrize("offset", [COUNT, COUNT + 100])
def test_offset_past_the_end_is_an_empty_page(dcs, backup_instance, records, offset):
    raw = list_raw(dcs, backup_instance, limit=10, offset=offset)
    assert raw["total_num"] == COUNT and raw["backup_record_response"] == []


# ----------------------------------------------------------------------------------------------- wire types


def test_record_fields_have_the_declared_json_types(dcs, backup_instance, records):
    raw = list_raw(dcs, backup_instance, limit=1000)
    by_id = {r["id"]: r for r in records}
    for rec in raw["backup_record_response"]:
        row = by_id[rec["backup_id"]]
        assert rec["instance_id"] == backup_instance
        assert rec["backup_name"] == row["name"]
        assert rec["backup_type"] == row["backup_type"]
        assert rec["backup_format"] == "rdb"
        assert rec["status"] == row["status"]
        # Strings, not numbers/booleans.
        assert isinstance(rec["progress"], str) and rec["progress"] == row["progress"]
        assert rec["is_support_restore"] in ("TRUE", "FALSE") and rec["is_support_restore"] == row["is_support_restore"]
        # An integer (int64), not a string or a float.
        assert is_int(rec["size"]) and rec["size"] == row["size"]
        assert DCS_TIME_RE.match(rec["created_at"]) and rec["created_at"] == dcs_time(row["created_at"])
        assert DCS_TIME_RE.match(rec["updated_at"]) and rec["updated_at"] == dcs_time(row["updated_at"])
        # Optional strings: a string, or null/absent; never {} (the doc example's mistake).
        for key in ("period", "error_code", "remark"):
            assert rec.get(key) == row[key], (key, rec.get(key), row[key])
            assert rec.get(key) is None or isinstance(rec[key], str), (key, rec[key])
        if row["execution_at"] is None:
            assert rec.get("execution_at") is None
        else:
            assert rec["execution_at"] == dcs_time(row["execution_at"])
    assert raw["backup_record_response"][0]["created_at"] == "2024-03-02T00:00:00.169Z"  # record 24


def test_sdk_model_types(dcs, backup_instance, records):
    resp = dcs.list_backup_records(ListBackupRecordsRequest(instance_id=backup_instance, limit=1000))
    assert resp.total_num == COUNT
    for rec in resp.backup_record_response:
        assert isinstance(rec.progress, str)
        assert rec.is_support_restore in ("TRUE", "FALSE")
        assert isinstance(rec.size, int)
        assert rec.period is None or (isinstance(rec.period, str) and rec.period != "{}")
        assert rec.error_code is None or (isinstance(rec.error_code, str) and rec.error_code != "{}")
    huge = [r for r in resp.backup_record_response if r.backup_id == _row(records, HUGE)["id"]][0]
    assert huge.size == 5_000_000_000


def _row(records: list[dict], i: int) -> dict:
    return [r for r in records if r["created_at"] == epoch_ms(created_at(i))][0]


def test_deleted_and_failed_records_are_listed(dcs, backup_instance, records):
    raw = list_raw(dcs, backup_instance, limit=1000)
    by_id = {r["backup_id"]: r for r in raw["backup_record_response"]}
    deleted = by_id[_row(records, DELETED)["id"]]
    assert deleted["status"] == "deleted" and deleted["is_support_restore"] == "FALSE"
    failed = by_id[_row(records, FAILED)["id"]]
    assert failed["status"] == "failed" and failed["error_code"] == "dcs.08.0002"
    ok = by_id[_row(records, FAILED + 1)["id"]]
    assert ok.get("error_code") is None


# ----------------------------------------------------------------------------------------------- time filter


def _expected(records: list[dict], first: int, last: int) -> list[str]:
    wanted = {epoch_ms(created_at(i)) for i in range(first, last + 1)}
    return [r["id"] for r in records if r["created_at"] in wanted]


def test_begin_and_end_time_filter(dcs, backup_instance, records):
    begin = query_time(created_at(5) + timedelta(minutes=30))
    end = query_time(created_at(14) + timedelta(minutes=30))
    raw = list_raw(dcs, backup_instance, begin_time=begin, end_time=end, limit=100)
    assert raw["total_num"] == 9
    assert ids(raw) == _expected(records, 6, 14)

    page = list_raw(dcs, backup_instance, begin_time=begin, end_time=end, limit=2, offset=2)
    assert page["total_num"] == 9, "total_num counts every record matching the filter"
    assert ids(page) == _expected(records, 6, 14)[2:4]


def test_begin_time_only_and_end_time_only(dcs, backup_instance, records):
    raw = list_raw(dcs, backup_instance, begin_time=query_time(created_at(19) + timedelta(minutes=30)), limit=100)
    assert raw["total_num"] == 5 and ids(raw) == _expected(records, 20, 24)
    raw = list_raw(dcs, backup_instance, end_time=query_time(created_at(2) + timedelta(minutes=30)), limit=100)
    assert raw["total_num"] == 3 and ids(raw) == _expected(records, 0, 2)


def test_time_window_without_records(dcs, backup_instance, records):
    raw = list_raw(dcs, backup_instance, begin_time="20300101000000", end_time="20300102000000")
    assert raw["total_num"] == 0 and raw["backup_record_response"] == []


def test_camel_case_time_aliases(coffer, backup_instance, records):
    """The seed's example URL uses beginTime/endTime; the SDK never sends them, so use a raw signed request."""
    begin = query_time(created_at(5) + timedelta(minutes=30))
    end = query_time(created_at(14) + timedelta(minutes=30))
    resp = signed_request(coffer.url, "GET", f"/v2/{coffer.project_id}/instances/{backup_instance}/backups",
                          ak=coffer.admin_access_key, sk=coffer.admin_secret_key, project_id=coffer.project_id,
                          query=[("beginTime", begin), ("endTime", end), ("limit", 100), ("offset", 0)])
    assert resp.status_code == 200, resp.text
    assert resp.headers.get("X-Request-Id")
    body = resp.json()
    assert body["total_num"] == 9
    assert ids(body) == _expected(records, 6, 14)


# ----------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("params", [
    dict(limit=0),
    dict(limit=1001),
    dict(offset=-1),
    dict(begin_time="2024-01-01"),
    dict(begin_time="20240101"),
    dict(end_time="yesterday"),
])
def test_invalid_parameters_are_dcs_4800(dcs, backup_instance, params):
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.list_backup_records(ListBackupRecordsRequest(instance_id=backup_instance, **params))
    assert_sdk_error(excinfo.value, 400, "DCS.4800")


def test_begin_after_end_is_dcs_4025(dcs, backup_instance):
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.list_backup_records(ListBackupRecordsRequest(instance_id=backup_instance, begin_time="20240302000000",
                                                         end_time="20240301000000"))
    assert_sdk_error(excinfo.value, 400, "DCS.4025")


def test_invalid_parameter_raw_error_body(coffer, backup_instance):
    resp = signed_request(coffer.url, "GET", f"/v2/{coffer.project_id}/instances/{backup_instance}/backups",
                          ak=coffer.admin_access_key, sk=coffer.admin_secret_key, project_id=coffer.project_id,
                          query=[("limit", 0)])
    assert resp.status_code == 400
    assert resp.headers.get("X-Request-Id")
    body = resp.json()
    assert body["error_code"] == "DCS.4800"
    assert isinstance(body["error_msg"], str) and body["error_msg"]
    assert "error_ext_msg" in body and body["error_ext_msg"] is None


def test_unknown_instance_is_dcs_3022(dcs):
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.list_backup_records(ListBackupRecordsRequest(instance_id=str(uuid.uuid4())))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")


def test_instance_without_records_is_an_empty_200(dcs, primary_instance):
    raw = list_raw(dcs, primary_instance, limit=10, offset=0)
    assert raw["total_num"] == 0 and raw["backup_record_response"] == []


def test_other_project_cannot_list_them(coffer, second_tenant, backup_instance, records):
    cred = second_tenant.credential
    other = dcs_client(coffer.url, BasicCredentials(cred["access"], cred["secret"], second_tenant.project_id))
    with pytest.raises(ClientRequestException) as excinfo:
        other.list_backup_records(ListBackupRecordsRequest(instance_id=backup_instance))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")
