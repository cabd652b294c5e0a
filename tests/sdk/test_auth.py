"""Authentication and tenancy through the official SDK: IAM tokens, AK/SK signing failures, the ±15 min
X-Sdk-Date window, the per-AK lockout, project isolation, project discovery via GET /v3/projects, and the
unauthenticated operations endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkdcs.v2 import (
    DcsClient,
    DeleteSingleInstanceRequest,
    ListBackupRecordsRequest,
    ListInstancesRequest,
    ModifyInstanceBody,
    ShowInstanceRequest,
    UpdateInstanceRequest,
)
from huaweicloudsdkiam.v3 import (
    AuthScope,
    AuthScopeProject,
    KeystoneCreateUserTokenByPasswordRequest,
    KeystoneCreateUserTokenByPasswordRequestBody,
    KeystoneListProjectsRequest,
    KeystoneValidateTokenRequest,
    PwdAuth,
    PwdIdentity,
    PwdPassword,
    PwdPasswordUser,
    PwdPasswordUserDomain,
)
from huaweicloudsdkiam.v3.iam_credentials import IamCredentials

from conftest import (
    METRICS_TOKEN,
    ADMIN_USER,
    DOMAIN,
    IAM_TIME_RE,
    REGION,
    REPO_ROOT,
    SECOND_USER,
    assert_sdk_error,
    dcs_client,
    http_config,
    iam_client,
    signed_request,
    skewed_credentials,
    token_credentials,
)


def token_request(user: str, password: str, *, project_name: str | None = None,
                  project_id: str | None = None) -> KeystoneCreateUserTokenByPasswordRequest:
    return KeystoneCreateUserTokenByPasswordRequest(body=KeystoneCreateUserTokenByPasswordRequestBody(
        auth=PwdAuth(
            identity=PwdIdentity(methods=["password"], password=PwdPassword(user=PwdPasswordUser(
                name=user, password=password, domain=PwdPasswordUserDomain(name=DOMAIN)))),
            scope=AuthScope(project=AuthScopeProject(name=project_name, id=project_id)))))


def listed_ids(client: DcsClient) -> list[str]:
    raw = client.list_instances(ListInstancesRequest(limit=1000)).to_json_object()
    return [i["instance_id"] for i in raw["instances"]]


@pytest.fixture(scope="module")
def admin_token(coffer) -> str:
    resp = iam_client(coffer.url).keystone_create_user_token_by_password(
        token_request(ADMIN_USER, coffer.admin_password, project_name=REGION))
    return resp.x_subject_token


@pytest.fixture(scope="module")
def second_client(coffer, second_tenant) -> DcsClient:
    cred = second_tenant.credential
    return dcs_client(coffer.url, BasicCredentials(cred["access"], cred["secret"], second_tenant.project_id))


# ----------------------------------------------------------------------------------------------- operations


def test_health_and_openapi_need_no_auth_metrics_its_bearer_token(coffer):
    health = requests.get(f"{coffer.url}/health", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert health.headers.get("X-Request-Id")

    # The session's server runs with COFFER_METRICS_TOKEN: /metrics names instances, so it wants the bearer.
    refused = requests.get(f"{coffer.url}/metrics", timeout=10)
    assert refused.status_code == 401 and refused.json()["error_code"] == "APIGW.0301", refused.text
    metrics = requests.get(f"{coffer.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert metrics.status_code == 200 and metrics.headers.get("X-Request-Id")
    assert "# TYPE" in metrics.text, metrics.text[:500]

    spec = requests.get(f"{coffer.url}/openapi.yaml", timeout=10)
    assert spec.status_code == 200 and spec.headers.get("X-Request-Id")
    assert spec.text == (REPO_ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"), \
        "the server must serve docs/openapi.yaml unchanged"


def test_unknown_url_is_dcs_4001(coffer):
    resp = signed_request(coffer.url, "GET", f"/v2/{coffer.project_id}/no-such-resource",
                          ak=coffer.admin_access_key, sk=coffer.admin_secret_key, project_id=coffer.project_id)
    assert resp.status_code == 404, resp.text
    assert resp.json()["error_code"] == "DCS.4001"
    assert resp.headers.get("X-Request-Id")


def test_wrong_method_is_dcs_5001(coffer):
    resp = signed_request(coffer.url, "PATCH", f"/v2/{coffer.project_id}/instances",
                          ak=coffer.admin_access_key, sk=coffer.admin_secret_key, project_id=coffer.project_id)
    assert resp.status_code == 405, resp.text
    assert resp.json()["error_code"] == "DCS.5001"
    assert resp.headers.get("X-Request-Id")


# ----------------------------------------------------------------------------------------------- IAM tokens


@pytest.mark.parametrize("scope", ["name", "id"])
def test_create_token_scoped_to_project(coffer, scope):
    kwargs = {"project_name": REGION} if scope == "name" else {"project_id": coffer.project_id}
    resp = iam_client(coffer.url).keystone_create_user_token_by_password(
        token_request(ADMIN_USER, coffer.admin_password, **kwargs))
    assert resp.status_code == 201
    assert isinstance(resp.x_subject_token, str) and resp.x_subject_token
    token = resp.to_json_object()["token"]
    assert IAM_TIME_RE.match(token["issued_at"]) and IAM_TIME_RE.match(token["expires_at"]), token
    lifetime = (datetime.strptime(token["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
                - datetime.strptime(token["issued_at"], "%Y-%m-%dT%H:%M:%S.%fZ"))
    assert timedelta(hours=23) < lifetime <= timedelta(hours=24, minutes=1), lifetime
    assert token["methods"] == ["password"]
    assert token["project"]["id"] == coffer.project_id
    assert token["project"]["name"] == REGION
    assert token["project"]["domain"]["name"] == DOMAIN
    assert token["user"]["name"] == ADMIN_USER
    assert token["user"]["domain"]["name"] == DOMAIN
    assert isinstance(token["user"]["id"], str) and token["user"]["id"]
    assert isinstance(token["roles"], list)
    if "catalog" in token:
        assert isinstance(token["catalog"], list)
    # The SDK model.
    assert resp.token.project.id == coffer.project_id


def test_validate_token(coffer, admin_token):
    client = iam_client(coffer.url, IamCredentials(admin_token))
    resp = client.keystone_validate_token(KeystoneValidateTokenRequest(x_subject_token=admin_token))
    assert resp.status_code == 200
    assert resp.x_subject_token == admin_token
    assert resp.token.project.id == coffer.project_id
    assert resp.token.user.name == ADMIN_USER


def test_wrong_password_is_iam_0004(coffer):
    with pytest.raises(ClientRequestException) as excinfo:
        iam_client(coffer.url).keystone_create_user_token_by_password(
            token_request(ADMIN_USER, coffer.admin_password + "-wrong", project_name=REGION))
    assert_sdk_error(excinfo.value, 401, "IAM.0004")


def test_unknown_user_is_iam_0004(coffer):
    with pytest.raises(ClientRequestException) as excinfo:
        iam_client(coffer.url).keystone_create_user_token_by_password(
            token_request("nobody-" + uuid.uuid4().hex[:8], "whatever", project_name=REGION))
    assert_sdk_error(excinfo.value, 401, "IAM.0004")


def test_token_scoped_to_another_users_project_is_iam_0006(coffer, second_tenant):
    with pytest.raises(ClientRequestException) as excinfo:
        iam_client(coffer.url).keystone_create_user_token_by_password(
            token_request(ADMIN_USER, coffer.admin_password, project_id=second_tenant.project_id))
    assert_sdk_error(excinfo.value, 401, "IAM.0006")


def test_validate_unknown_subject_token_is_iam_0011(coffer, admin_token):
    client = iam_client(coffer.url, IamCredentials(admin_token))
    with pytest.raises(ClientRequestException) as excinfo:
        client.keystone_validate_token(KeystoneValidateTokenRequest(x_subject_token="MIIbogus" + uuid.uuid4().hex))
    assert_sdk_error(excinfo.value, 404, "IAM.0011")


def test_validate_without_valid_caller_token_is_apigw_0301(coffer, admin_token):
    client = iam_client(coffer.url, IamCredentials("MIIbogus" + uuid.uuid4().hex))
    with pytest.raises(ClientRequestException) as excinfo:
        client.keystone_validate_token(KeystoneValidateTokenRequest(x_subject_token=admin_token))
    assert_sdk_error(excinfo.value, 401, "APIGW.0301")


def test_token_lists_instances(coffer, admin_token, primary_instance):
    client = dcs_client(coffer.url, token_credentials(admin_token, coffer.project_id))
    assert primary_instance in listed_ids(client)
    shown = client.show_instance(ShowInstanceRequest(instance_id=primary_instance))
    assert shown.instance_id == primary_instance


def test_token_of_another_project_is_dcs_1004(coffer, admin_token, second_tenant):
    client = dcs_client(coffer.url, token_credentials(admin_token, second_tenant.project_id))
    with pytest.raises(ClientRequestException) as excinfo:
        client.list_instances(ListInstancesRequest())
    assert_sdk_error(excinfo.value, 401, "DCS.1004")


def test_second_users_token_works_in_its_own_project(coffer, second_tenant, primary_instance):
    resp = iam_client(coffer.url).keystone_create_user_token_by_password(
        token_request(SECOND_USER, second_tenant.password, project_id=second_tenant.project_id))
    assert resp.status_code == 201
    client = dcs_client(coffer.url, token_credentials(resp.x_subject_token, second_tenant.project_id))
    assert primary_instance not in listed_ids(client)


def test_bad_token_is_apigw_0301(coffer):
    client = dcs_client(coffer.url, token_credentials("MIIbogus" + uuid.uuid4().hex, coffer.project_id))
    with pytest.raises(ClientRequestException) as excinfo:
        client.list_instances(ListInstancesRequest())
    assert_sdk_error(excinfo.value, 401, "APIGW.0301")


# ----------------------------------------------------------------------------------------------- AK/SK


def test_wrong_sk_is_apigw_0301(coffer, fresh_credential):
    client = dcs_client(coffer.url, BasicCredentials(fresh_credential["access"], fresh_credential["secret"] + "x",
                                                     coffer.project_id))
    with pytest.raises(ClientRequestException) as excinfo:
        client.list_instances(ListInstancesRequest())
    assert_sdk_error(excinfo.value, 401, "APIGW.0301")


def test_unknown_ak_is_apigw_0301(coffer):
    client = dcs_client(coffer.url, BasicCredentials("UNKNOWN" + uuid.uuid4().hex[:13].upper(), "x" * 40,
                                                     coffer.project_id))
    with pytest.raises(ClientRequestException) as excinfo:
        client.list_instances(ListInstancesRequest())
    assert_sdk_error(excinfo.value, 401, "APIGW.0301")


@pytest.mark.parametrize("minutes", [-20, 20])
def test_x_sdk_date_outside_15_minutes_is_apigw_0301(coffer, fresh_credential, minutes):
    creds = skewed_credentials(fresh_credential["access"], fresh_credential["secret"], coffer.project_id,
                               timedelta(minutes=minutes))
    with pytest.raises(ClientRequestException) as excinfo:
        dcs_client(coffer.url, creds).list_instances(ListInstancesRequest())
    assert_sdk_error(excinfo.value, 401, "APIGW.0301")


def test_x_sdk_date_within_15_minutes_is_accepted(coffer, fresh_credential):
    creds = skewed_credentials(fresh_credential["access"], fresh_credential["secret"], coffer.project_id,
                               timedelta(minutes=-5))
    resp = dcs_client(coffer.url, creds).list_instances(ListInstancesRequest())
    assert resp.status_code == 200


def test_missing_authentication_is_gateway_error(coffer):
    resp = signed_request(coffer.url, "GET", f"/v2/{coffer.project_id}/instances", ak=None, sk=None,
                          project_id=coffer.project_id)
    assert resp.status_code == 401, resp.text
    body = resp.json()
    assert body["error_code"] == "APIGW.0301" and body["error_msg"]
    request_id = resp.headers.get("X-Request-Id")
    assert request_id and body["request_id"] == request_id


def test_fresh_credential_works_immediately(coffer, fresh_credential, primary_instance):
    """The admin CLI writes to the store; the running server must see the new AK at once."""
    client = dcs_client(coffer.url, BasicCredentials(fresh_credential["access"], fresh_credential["secret"],
                                                     coffer.project_id))
    assert primary_instance in listed_ids(client)


# ----------------------------------------------------------------------------------------------- projects


def test_client_without_project_id_is_dcs_4002(coffer):
    """with_endpoint() and no project id: the SDK sends the literal, percent-encoded {project_id} (reference 4.3)."""
    client = dcs_client(coffer.url, BasicCredentials(coffer.admin_access_key, coffer.admin_secret_key))
    with pytest.raises(ClientRequestException) as excinfo:
        client.list_instances(ListInstancesRequest())
    assert_sdk_error(excinfo.value, 400, "DCS.4002")


def test_credentials_of_another_project_on_this_project_path_is_dcs_1004(coffer, second_tenant):
    cred = second_tenant.credential
    client = dcs_client(coffer.url, BasicCredentials(cred["access"], cred["secret"], coffer.project_id))
    with pytest.raises(ClientRequestException) as excinfo:
        client.list_instances(ListInstancesRequest())
    assert_sdk_error(excinfo.value, 401, "DCS.1004")


def test_second_project_sees_none_of_the_first_projects_instances(dcs, second_client, primary_instance):
    assert primary_instance in listed_ids(dcs)
    raw = second_client.list_instances(ListInstancesRequest(limit=1000)).to_json_object()
    assert primary_instance not in [i["instance_id"] for i in raw["instances"]]
    assert raw["instance_num"] == len(raw["instances"])
    by_id = second_client.list_instances(ListInstancesRequest(instance_id=primary_instance)).to_json_object()
    assert by_id["instances"] == [] and by_id["instance_num"] == 0


def test_second_project_cannot_touch_the_first_projects_instance(dcs, second_client, primary_instance):
    with pytest.raises(ClientRequestException) as excinfo:
        second_client.show_instance(ShowInstanceRequest(instance_id=primary_instance))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")
    with pytest.raises(ClientRequestException) as excinfo:
        second_client.update_instance(UpdateInstanceRequest(instance_id=primary_instance,
                                                            body=ModifyInstanceBody(description="hijacked")))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")
    with pytest.raises(ClientRequestException) as excinfo:
        second_client.delete_single_instance(DeleteSingleInstanceRequest(instance_id=primary_instance))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")
    with pytest.raises(ClientRequestException) as excinfo:
        second_client.list_backup_records(ListBackupRecordsRequest(instance_id=primary_instance))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")
    shown = dcs.show_instance(ShowInstanceRequest(instance_id=primary_instance))
    assert shown.description != "hijacked"


def test_keystone_list_projects(coffer):
    client = iam_client(coffer.url, BasicCredentials(coffer.admin_access_key, coffer.admin_secret_key))
    resp = client.keystone_list_projects(KeystoneListProjectsRequest(name=REGION))
    assert resp.status_code == 200
    raw = resp.to_json_object()
    assert len(raw["projects"]) == 1, raw
    project = raw["projects"][0]
    assert project["id"] == coffer.project_id and project["name"] == REGION
    assert isinstance(project["domain_id"], str) and project["domain_id"]
    assert project["is_domain"] is False and project["enabled"] is True
    assert isinstance(project["links"]["self"], str)
    assert isinstance(raw["links"], dict) and isinstance(raw["links"]["self"], str)
    assert resp.projects[0].id == coffer.project_id


def test_region_without_project_id_discovers_it(coffer, fresh_credential, primary_instance):
    """BasicCredentials without a project id + with_region: build() calls GET /v3/projects?name=local-1 on the
    IAM endpoint (AK/SK-signed) and takes projects[0].id. A fresh AK avoids the SDK's process-wide cache."""
    creds = BasicCredentials(fresh_credential["access"], fresh_credential["secret"]).with_iam_endpoint(coffer.url)
    client = (DcsClient.new_builder()
              .with_http_config(http_config())
              .with_credentials(creds)
              .with_region(Region(REGION, coffer.url))
              .build())
    assert creds.project_id == coffer.project_id
    assert primary_instance in listed_ids(client)


def test_lockout_after_five_failures(coffer, dcs, fresh_credential):
    ak, sk = fresh_credential["access"], fresh_credential["secret"]
    wrong = dcs_client(coffer.url, BasicCredentials(ak, sk + "-wrong", coffer.project_id))
    for attempt in range(5):
        with pytest.raises(ClientRequestException) as excinfo:
            wrong.list_instances(ListInstancesRequest())
        assert_sdk_error(excinfo.value, 401, "APIGW.0301")
    right = dcs_client(coffer.url, BasicCredentials(ak, sk, coffer.project_id))
    with pytest.raises(ClientRequestException) as excinfo:
        right.list_instances(ListInstancesRequest())
    exc = assert_sdk_error(excinfo.value, 401, "APIGW.0301")
    assert "limit" in exc.error_msg.lower(), exc.error_msg
    # The lock is per AK: the admin's own AK is unaffected.
    assert dcs.list_instances(ListInstancesRequest()).status_code == 200
