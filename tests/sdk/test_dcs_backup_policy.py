"""Automatic DCS backups by policy (reference 2.8, 2.2) through the official SDK.

A policy set with ``update_instance`` is shown back by ``show_instance``; a policy whose window is the current UTC
hour on today's UTC weekday makes the running server take an automatic backup at once. No clock option is needed:
storing a policy wakes the scheduler (it does not wait for its one-minute check), and the window is chosen to be
now. Near the end of an hour the test waits for the next one (at most 15 s) so the window cannot close under it.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from huaweicloudsdkdcs.v2 import (
    BackupPlan,
    BackupPolicy,
    ListBackupRecordsRequest,
    ModifyInstanceBody,
    ShowInstanceRequest,
    UpdateInstanceRequest,
)

from conftest import create_adopting_instance, is_int

AUTO_BACKUP_TIMEOUT_S = 60.0


def policy(backup_at: list[int], begin_at: str, save_days: int = 2) -> BackupPolicy:
    return BackupPolicy(backup_type="auto", save_days=save_days,
                        periodical_backup_plan=BackupPlan(backup_at=backup_at, period_type="weekly", begin_at=begin_at))


def current_window() -> tuple[int, str]:
    """Today's ISO weekday and the current UTC hour's window, not within 15 s of its end."""
    now = datetime.now(timezone.utc)
    if now.minute == 59 and now.second >= 45:
        time.sleep(61 - now.second)
        now = datetime.now(timezone.utc)
    return now.isoweekday(), f"{now.hour:02d}:00-{(now.hour + 1) % 24:02d}:00"


def auto_records(dcs, instance_id: str) -> list[dict]:
    raw = dcs.list_backup_records(ListBackupRecordsRequest(instance_id=instance_id, limit=1000)).to_json_object()
    return [r for r in raw.get("backup_record_response") or [] if r.get("backup_type") == "auto"]


def test_policy_set_by_update_is_shown_back(dcs, redis_factory):
    instance_id = create_adopting_instance(dcs, "policy-show", redis_factory.start(password=None)).instances[0].instance_id
    far = (datetime.now(timezone.utc).hour + 12) % 24
    window = f"{far:02d}:00-{(far + 1) % 24:02d}:00"
    resp = dcs.update_instance(UpdateInstanceRequest(
        instance_id=instance_id, body=ModifyInstanceBody(instance_backup_policy=policy([1, 2, 3, 4, 5, 6, 7], window, 5))))
    assert resp.status_code == 204
    shown = dcs.show_instance(ShowInstanceRequest(instance_id=instance_id))
    stored = shown.instance_backup_policy.policy
    assert stored.backup_type == "auto"
    assert stored.save_days == 5
    assert stored.periodical_backup_plan.backup_at == [1, 2, 3, 4, 5, 6, 7]
    assert stored.periodical_backup_plan.begin_at == window
    assert stored.periodical_backup_plan.period_type == "weekly"
    # Every day, but twelve hours from now: the scheduler, woken by the change, takes no backup.
    time.sleep(1.0)
    assert auto_records(dcs, instance_id) == []


def test_auto_backup_appears_in_its_window(dcs, redis_factory):
    redis = redis_factory.start(password=None)
    redis.command("SET", "policy:key", "value")
    instance_id = create_adopting_instance(dcs, "policy-auto", redis).instances[0].instance_id
    weekday, window = current_window()
    resp = dcs.update_instance(UpdateInstanceRequest(
        instance_id=instance_id, body=ModifyInstanceBody(instance_backup_policy=policy([weekday], window))))
    assert resp.status_code == 204

    deadline = time.monotonic() + AUTO_BACKUP_TIMEOUT_S
    records = auto_records(dcs, instance_id)
    while not (records and records[0].get("status") in ("succeed", "failed")) and time.monotonic() < deadline:
        time.sleep(0.2)
        records = auto_records(dcs, instance_id)
    assert len(records) == 1, records
    record = records[0]
    assert record["status"] == "succeed", record
    assert record["period"] == window
    assert record["is_support_restore"] == "TRUE"
    assert is_int(record["size"]) and record["size"] > 0
    assert "error_code" not in record or record["error_code"] in (None, "")

    # Storing the policy again wakes the scheduler again, but the day has its backup.
    dcs.update_instance(UpdateInstanceRequest(
        instance_id=instance_id, body=ModifyInstanceBody(instance_backup_policy=policy([weekday], window))))
    time.sleep(1.0)
    assert len(auto_records(dcs, instance_id)) == 1
