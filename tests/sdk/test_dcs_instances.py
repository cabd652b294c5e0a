"""DCS v2 instance lifecycle through the official SDK: bootstrap, create (adopting a running redis-server),
list, show, update (backup policy), delete, and the validation errors."""

from __future__ import annotations

import datetime
import os
import stat
import uuid
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdcs.v2 import (
    BackupPlan,
    BackupPolicy,
    DeleteSingleInstanceRequest,
    ListInstancesRequest,
    ModifyInstanceBody,
    ShowInstanceRequest,
    UpdateInstanceRequest,
)

from conftest import (
    ADMIN_USER,
    DCS_TIME_RE,
    DOMAIN,
    PROJECT_ID_RE,
    REGION,
    assert_sdk_error,
    create_adopting_instance,
    free_port,
    is_int,
)

# The window is twelve hours away from now: the scheduler really runs automatic backups, and these tests
# must not get one in the middle of counting cache01's records.
_FAR_HOUR = (datetime.datetime.now(datetime.timezone.utc).hour + 12) % 24
FAR_WINDOW = f"{_FAR_HOUR:02d}:00-{(_FAR_HOUR + 1) % 24:02d}:00"
VALID_POLICY = dict(backup_type="auto", save_days=3,
                    plan=dict(backup_at=[1, 3, 5], period_type="weekly", begin_at=FAR_WINDOW))


def valid_policy() -> BackupPolicy:
    plan = VALID_POLICY["plan"]
    return BackupPolicy(backup_type=VALID_POLICY["backup_type"], save_days=VALID_POLICY["save_days"],
                        periodical_backup_plan=BackupPlan(backup_at=list(plan["backup_at"]),
                                                          period_type=plan["period_type"],
                                                          begin_at=plan["begin_at"]))


def show_raw(dcs, instance_id: str) -> dict:
    resp = dcs.show_instance(ShowInstanceRequest(instance_id=instance_id))
    assert resp.status_code == 200
    raw = resp.to_json_object()
    assert isinstance(raw, dict)
    return raw


def assert_instance_wire_types(info: dict, *, redis, redis_version: str, no_password: bool) -> None:
    """The fields shared by list (InstanceListInfo) and show, with their exact JSON types."""
    assert isinstance(info["instance_id"], str)
    uuid.UUID(info["instance_id"])
    assert isinstance(info["name"], str)
    assert info["engine"].lower() == "redis"
    assert isinstance(info["engine_version"], str)
    assert info["engine_version"].split(".")[0] == redis_version.split(".")[0], info["engine_version"]
    assert info["status"] == "RUNNING"
    assert is_int(info["capacity"]), info["capacity"]
    assert isinstance(info["capacity_minor"], str), info["capacity_minor"]
    assert is_int(info["max_memory"]) and info["max_memory"] >= 0, info["max_memory"]
    assert is_int(info["used_memory"]) and info["used_memory"] >= 0, info["used_memory"]
    assert info["ip"] == redis.host
    assert is_int(info["port"]) and info["port"] == redis.port
    # A JSON string, not a boolean (the SDK declares str; a JSON true would become 'True').
    assert info["no_password_access"] == ("true" if no_password else "false")
    assert isinstance(info["created_at"], str) and DCS_TIME_RE.match(info["created_at"]), info["created_at"]
    for key in ("enable_ssl", "enable_publicip", "service_upgrade", "transparent_client_ip_enable"):
        if info.get(key) is not None:
            assert isinstance(info[key], bool), (key, info[key])
    for key in ("charging_mode", "db_number", "replica_count", "sharding_count"):
        if info.get(key) is not None:
            assert is_int(info[key]), (key, info[key])
    if info.get("az_codes") is not None:
        assert isinstance(info["az_codes"], list) and all(isinstance(a, str) for a in info["az_codes"])
    for key, value in info.items():
        assert value != {} or key in ("features", "rename_commands"), f"{key} is {{}} on the wire"


@pytest.fixture(scope="module")
def cache01(dcs, redis_pw):
    """cache-01: adopts the password-protected redis-server. Returns the create response."""
    return create_adopting_instance(dcs, "cache-01", redis_pw)


@pytest.fixture(scope="module")
def cache01_id(cache01) -> str:
    return cache01.instances[0].instance_id


# ----------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_file_is_private_and_matches_environment(coffer):
    path = coffer.data_dir / "bootstrap.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, oct(os.stat(path).st_mode)
    b = coffer.bootstrap
    assert set(b) >= {"domain", "user", "password", "project_id", "project_name", "region", "access_key",
                      "secret_key", "endpoint"}, sorted(b)
    assert b["domain"] == DOMAIN
    assert b["user"] == ADMIN_USER
    assert b["password"] == coffer.admin_password
    assert PROJECT_ID_RE.match(b["project_id"]), b["project_id"]
    assert b["project_name"] == REGION
    assert b["region"] == REGION
    assert b["access_key"] == coffer.admin_access_key
    assert b["secret_key"] == coffer.admin_secret_key
    endpoint = urlparse(b["endpoint"])
    assert endpoint.scheme in ("http", "https") and endpoint.port == coffer.port, b["endpoint"]


# ----------------------------------------------------------------------------------------------- create


def test_create_instance_adopts_password_protected_redis(cache01):
    assert cache01.status_code == 200
    raw = cache01.to_json_object()
    assert isinstance(raw["instances"], list) and len(raw["instances"]) == 1, raw
    created = raw["instances"][0]
    assert created["instance_name"] == "cache-01"
    assert isinstance(created["instance_id"], str)
    uuid.UUID(created["instance_id"])
    assert cache01.instances[0].instance_id == created["instance_id"]
    assert raw.get("order_id") in (None, ""), "no pre-paid orders in Coffer"


def test_create_instance_without_password_engine_case_insensitive(dcs, redis_nopw, redis_version):
    resp = create_adopting_instance(dcs, "cache-nopw", redis_nopw, engine="redis")
    assert resp.status_code == 200
    instance_id = resp.instances[0].instance_id
    raw = show_raw(dcs, instance_id)
    assert_instance_wire_types(raw, redis=redis_nopw, redis_version=redis_version, no_password=True)
    assert raw["no_password_access"] == "true"


def test_create_unreachable_address_is_400_naming_the_address(dcs, redis_nopw):
    port = free_port()  # nothing listens there
    nowhere = SimpleNamespace(host="127.0.0.1", port=port, password=None)
    with pytest.raises(ClientRequestException) as excinfo:
        create_adopting_instance(dcs, "cache-nowhere", nowhere)
    exc = assert_sdk_error(excinfo.value, 400, code_prefix="DCS.")
    assert "127.0.0.1" in exc.error_msg and str(port) in exc.error_msg, exc.error_msg


@pytest.mark.parametrize("case", ["wrong-password", "missing-password"])
def test_create_with_bad_redis_password_is_400(dcs, redis_pw, case):
    extra = {"password": "definitely-not-it"} if case == "wrong-password" else {
        "password": None, "no_password_access": True}
    with pytest.raises(ClientRequestException) as excinfo:
        create_adopting_instance(dcs, f"cache-{case}", redis_pw, **extra)
    assert_sdk_error(excinfo.value, 400, code_prefix="DCS.")


@pytest.mark.parametrize("name", ["1cache", "abc", "a" * 65, "bad name", "cache!01", "-cache", "_cache"])
def test_create_with_invalid_name_is_dcs_4010(dcs, redis_nopw, name):
    with pytest.raises(ClientRequestException) as excinfo:
        create_adopting_instance(dcs, name, redis_nopw)
    assert_sdk_error(excinfo.value, 400, "DCS.4010")


def test_create_with_a_name_already_used_is_dcs_4060(dcs, cache01, redis_nopw):
    with pytest.raises(ClientRequestException) as excinfo:
        create_adopting_instance(dcs, "cache-01", redis_nopw)
    assert_sdk_error(excinfo.value, 400, "DCS.4060")


@pytest.mark.parametrize("engine", ["Memcached", "redis-cluster"])
def test_create_with_other_engine_is_dcs_4006(dcs, redis_nopw, engine):
    with pytest.raises(ClientRequestException) as excinfo:
        create_adopting_instance(dcs, "cache-engine", redis_nopw, engine=engine)
    assert_sdk_error(excinfo.value, 400, "DCS.4006")


def test_create_with_invalid_backup_policy_is_rejected(dcs, redis_nopw):
    policy = valid_policy()
    policy.save_days = 9
    with pytest.raises(ClientRequestException) as excinfo:
        create_adopting_instance(dcs, "cache-badpolicy", redis_nopw, instance_backup_policy=policy)
    assert_sdk_error(excinfo.value, 400, "DCS.4072")


# ----------------------------------------------------------------------------------------------- list


def test_list_instances_contains_the_adopted_instance(dcs, cache01_id, redis_pw, redis_version):
    resp = dcs.list_instances(ListInstancesRequest(limit=1000))
    assert resp.status_code == 200
    raw = resp.to_json_object()
    assert is_int(raw["instance_num"]) and isinstance(raw["instances"], list)
    assert raw["instance_num"] == len(raw["instances"]) >= 1
    mine = [i for i in raw["instances"] if i["instance_id"] == cache01_id]
    assert len(mine) == 1, [i["instance_id"] for i in raw["instances"]]
    info = mine[0]
    assert info["name"] == "cache-01"
    assert info["engine"] == "Redis"
    assert info["spec_code"] == "redis.ha.xu1.large.r2.1"
    assert_instance_wire_types(info, redis=redis_pw, redis_version=redis_version, no_password=False)
    # The SDK model agrees with the raw body.
    model = [i for i in resp.instances if i.instance_id == cache01_id][0]
    assert model.no_password_access == "false" and isinstance(model.used_memory, int)


def test_list_instances_filters_and_paging(dcs, cache01_id):
    total = dcs.list_instances(ListInstancesRequest(limit=1000)).to_json_object()["instance_num"]

    by_id = dcs.list_instances(ListInstancesRequest(instance_id=cache01_id)).to_json_object()
    assert by_id["instance_num"] == 1 and [i["instance_id"] for i in by_id["instances"]] == [cache01_id]

    by_name = dcs.list_instances(ListInstancesRequest(name="cache-01", name_equal="true")).to_json_object()
    assert [i["instance_id"] for i in by_name["instances"]] == [cache01_id]

    fuzzy = dcs.list_instances(ListInstancesRequest(name="che-0", limit=1000)).to_json_object()
    assert cache01_id in [i["instance_id"] for i in fuzzy["instances"]]

    page = dcs.list_instances(ListInstancesRequest(limit=1, offset=0)).to_json_object()
    assert len(page["instances"]) == 1 and page["instance_num"] == total, "instance_num is the total, not the page"

    beyond = dcs.list_instances(ListInstancesRequest(offset=total + 5)).to_json_object()
    assert beyond["instances"] == [] and beyond["instance_num"] == total


@pytest.mark.parametrize("params", [dict(limit=0), dict(limit=1001), dict(offset=-1)])
def test_list_instances_rejects_invalid_paging(dcs, params):
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.list_instances(ListInstancesRequest(**params))
    assert_sdk_error(excinfo.value, 400, "DCS.4800")


# ----------------------------------------------------------------------------------------------- show


def test_show_instance_reads_live_values(dcs, cache01_id, redis_pw, redis_version):
    resp = dcs.show_instance(ShowInstanceRequest(instance_id=cache01_id))
    assert resp.status_code == 200
    raw = resp.to_json_object()
    assert raw["instance_id"] == cache01_id, "show_instance is a flat object, not wrapped"
    assert raw["name"] == "cache-01"
    assert_instance_wire_types(raw, redis=redis_pw, redis_version=redis_version, no_password=False)
    assert raw["engine_version"].startswith(redis_version.split(".")[0])
    assert raw.get("task") is None
    policy = raw.get("instance_backup_policy")
    assert policy is None or isinstance(policy.get("policy"), dict), policy
    # SDK model view.
    assert resp.no_password_access == "false"
    assert isinstance(resp.used_memory, int) and isinstance(resp.max_memory, int)
    assert isinstance(resp.capacity, int) and isinstance(resp.capacity_minor, str)


def test_show_instance_used_memory_follows_redis(dcs, cache01_id, redis_pw):
    before = show_raw(dcs, cache01_id)["used_memory"]
    redis_pw.command("SET", "coffer-test-big", "x" * (8 * 1024 * 1024))
    try:
        after = show_raw(dcs, cache01_id)["used_memory"]
        assert after >= before + 7, (before, after)  # MB
    finally:
        redis_pw.command("DEL", "coffer-test-big")


def test_show_unknown_instance_is_dcs_3022(dcs):
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.show_instance(ShowInstanceRequest(instance_id=str(uuid.uuid4())))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")


# ----------------------------------------------------------------------------------------------- update


def test_update_backup_policy_then_show_wraps_it(dcs, cache01_id, project_id):
    resp = dcs.update_instance(UpdateInstanceRequest(instance_id=cache01_id,
                                                     body=ModifyInstanceBody(instance_backup_policy=valid_policy())))
    assert resp.status_code == 204
    assert not resp.raw_content, "204 has no body"

    show = dcs.show_instance(ShowInstanceRequest(instance_id=cache01_id))
    raw = show.to_json_object()
    wrapped = raw["instance_backup_policy"]
    assert isinstance(wrapped, dict), wrapped
    assert "backup_type" not in wrapped, "show wraps the policy under .policy"
    policy = wrapped["policy"]
    assert policy["backup_type"] == "auto"
    assert is_int(policy["save_days"]) and policy["save_days"] == 3
    plan = policy["periodical_backup_plan"]
    assert plan["backup_at"] == [1, 3, 5] and all(is_int(d) for d in plan["backup_at"])
    assert plan["period_type"] == "weekly"
    assert plan["begin_at"] == FAR_WINDOW
    assert isinstance(wrapped.get("backup_policy_id"), str) and wrapped["backup_policy_id"]
    for key in ("created_at", "updated_at"):
        if wrapped.get(key) is not None:
            assert DCS_TIME_RE.match(wrapped[key]), (key, wrapped[key])
    if wrapped.get("tenant_id") is not None:
        assert wrapped["tenant_id"] == project_id
    # The SDK model sees the same thing.
    assert show.instance_backup_policy.policy.save_days == 3
    assert show.instance_backup_policy.policy.periodical_backup_plan.backup_at == [1, 3, 5]


def test_update_description(dcs, cache01_id):
    resp = dcs.update_instance(UpdateInstanceRequest(instance_id=cache01_id,
                                                     body=ModifyInstanceBody(description="adopted by the SDK suite")))
    assert resp.status_code == 204
    raw = show_raw(dcs, cache01_id)
    assert raw["description"] == "adopted by the SDK suite"
    assert raw["name"] == "cache-01", "fields not sent stay unchanged"


def _bad_policy(case: str) -> BackupPolicy:
    policy = valid_policy()
    plan = policy.periodical_backup_plan
    if case == "save_days=0":
        policy.save_days = 0
    elif case == "save_days=8":
        policy.save_days = 8
    elif case == "backup_type":
        policy.backup_type = "sometimes"
    elif case == "period_type":
        plan.period_type = "daily"
    elif case == "backup_at=0":
        plan.backup_at = [0]
    elif case == "backup_at=8":
        plan.backup_at = [1, 8]
    elif case == "begin_at=abc":
        plan.begin_at = "abc"
    elif case == "begin_at=25":
        plan.begin_at = "25:00-26:00"
    else:
        raise AssertionError(case)
    return policy


@pytest.mark.parametrize("case,code", [
    ("save_days=0", "DCS.4072"),
    ("save_days=8", "DCS.4072"),
    ("backup_type", "DCS.4073"),
    ("period_type", "DCS.4074"),
    ("backup_at=0", "DCS.4075"),
    ("backup_at=8", "DCS.4075"),
    ("begin_at=abc", "DCS.4076"),
    ("begin_at=25", "DCS.4076"),
])
def test_update_with_invalid_backup_policy(dcs, cache01_id, case, code):
    ok = dcs.update_instance(UpdateInstanceRequest(instance_id=cache01_id,
                                                   body=ModifyInstanceBody(instance_backup_policy=valid_policy())))
    assert ok.status_code == 204
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.update_instance(UpdateInstanceRequest(instance_id=cache01_id,
                                                  body=ModifyInstanceBody(instance_backup_policy=_bad_policy(case))))
    assert_sdk_error(excinfo.value, 400, code)
    kept = show_raw(dcs, cache01_id)["instance_backup_policy"]["policy"]
    assert kept["save_days"] == 3 and kept["periodical_backup_plan"]["begin_at"] == FAR_WINDOW, \
        "a rejected update changes nothing"


def test_update_unknown_instance_is_dcs_3022(dcs):
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.update_instance(UpdateInstanceRequest(instance_id=str(uuid.uuid4()),
                                                  body=ModifyInstanceBody(description="x")))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")


# ----------------------------------------------------------------------------------------------- delete


def test_delete_instance_forgets_it_and_leaves_redis_alone(dcs, redis_factory):
    redis = redis_factory.start(password="del-" + uuid.uuid4().hex[:12])
    redis.command("SET", "survivor", "1")
    instance_id = create_adopting_instance(dcs, "cache-del", redis).instances[0].instance_id

    resp = dcs.delete_single_instance(DeleteSingleInstanceRequest(instance_id=instance_id))
    assert resp.status_code == 204
    assert not resp.raw_content

    with pytest.raises(ClientRequestException) as excinfo:
        dcs.show_instance(ShowInstanceRequest(instance_id=instance_id))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")

    listed = dcs.list_instances(ListInstancesRequest(instance_id=instance_id)).to_json_object()
    assert listed["instances"] == [] and listed["instance_num"] == 0

    with pytest.raises(ClientRequestException) as excinfo:
        dcs.delete_single_instance(DeleteSingleInstanceRequest(instance_id=instance_id))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")

    # Adoption, not ownership: the redis-server keeps running with its data.
    assert redis.proc.poll() is None
    assert redis.command("GET", "survivor") == "1"
