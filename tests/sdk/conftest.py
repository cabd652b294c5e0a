"""Fixtures and helpers for the SDK conformance suite.

The suite drives a real Coffer server (``$COFFER_BIN serve``) with the official Huawei Cloud Python SDK
(``huaweicloudsdkcore``/``huaweicloudsdkdcs``/``huaweicloudsdkiam``) and real ``redis-server`` processes, all on
loopback. Nothing here builds Swift: ``COFFER_BIN`` must point at an already built ``coffer`` binary.

Helpers that test modules use directly (``from conftest import ...``) are plain functions; everything with a
lifetime (processes, temp dirs) is a fixture.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import random
import string
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Optional
from urllib.parse import urlparse

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials as SdkBasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkdcs.v2 import CreateInstanceBody, CreateInstanceRequest, DcsClient
from huaweicloudsdkiam.v3 import IamClient
from huaweicloudsdkiam.v3.iam_credentials import IamCredentials

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "local-1"
DOMAIN = "coffer"
ADMIN_USER = "admin"
SECOND_PROJECT_NAME = "local-1_second"
SECOND_USER = "second-user"

HEALTH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

# Wire formats (reference sections 2.2 and 4.1).
DCS_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
IAM_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
PROJECT_ID_RE = re.compile(r"^[0-9a-f]{32}$")


# --------------------------------------------------------------------------------------------------- small helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_secret(length: int = 24, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return data[-limit:].decode("utf-8", "replace")


def stop_process(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> Optional[int]:
    """SIGTERM, wait, then SIGKILL. Only ever touches the process we started (by its Popen handle)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=timeout)


def dcs_time(ms: int) -> str:
    """Epoch milliseconds → DCS wire time, e.g. ``2019-05-10T08:31:16.166Z``."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def query_time(dt: datetime) -> str:
    """``begin_time``/``end_time`` query format: ``yyyyMMddHHmmss`` UTC."""
    return dt.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")


def epoch_ms(dt: datetime) -> int:
    return int(round(dt.timestamp() * 1000))


def is_int(value: Any) -> bool:
    """A JSON integer (``bool`` is a subclass of ``int`` in Python; exclude it)."""
    return isinstance(value, int) and not isinstance(value, bool)


def assert_sdk_error(exc: BaseException, status: int, code: Optional[str] = None,
                     code_prefix: Optional[str] = None) -> ClientRequestException:
    """Check an SDK exception: class, HTTP status, error code, a message, and the X-Request-Id."""
    assert isinstance(exc, ClientRequestException), f"expected ClientRequestException, got {exc!r}"
    assert exc.status_code == status, str(exc)
    # Without both error_code and error_msg in the body the SDK falls back to error_code == str(status).
    assert exc.error_code and exc.error_code != str(status), f"body lacks error_code/error_msg: {exc}"
    if code is not None:
        assert exc.error_code == code, str(exc)
    if code_prefix is not None:
        assert exc.error_code.startswith(code_prefix), str(exc)
    assert isinstance(exc.error_msg, str) and exc.error_msg, str(exc)
    assert exc.request_id, f"no X-Request-Id on the error response: {exc}"
    return exc


# --------------------------------------------------------------------------------------------------- SDK clients


def http_config() -> HttpConfig:
    config = HttpConfig.get_default_config()
    config.timeout = (5, 60)
    return config


def dcs_client(url: str, credentials: Any) -> DcsClient:
    return (DcsClient.new_builder()
            .with_http_config(http_config())
            .with_credentials(credentials)
            .with_endpoint(url)
            .build())


def iam_client(url: str, credentials: Any = None) -> IamClient:
    return (IamClient.new_builder()
            .with_http_config(http_config())
            .with_credentials(credentials if credentials is not None else IamCredentials())
            .with_endpoint(url)
            .build())


def token_credentials(auth_token: str, project_id: str) -> SdkBasicCredentials:
    """Token auth for DcsClient (reference 6.5).

    ``DcsClient.new_builder().build()`` only accepts a credentials object whose class is NAMED
    ``BasicCredentials``, so the subclass must carry that name. It sends ``X-Auth-Token`` and ``X-Project-Id``,
    and no ``Authorization``.
    """

    class BasicCredentials(SdkBasicCredentials):  # the name matters, see above
        def __init__(self, token: str, pid: str):
            super().__init__(None, None, pid)
            self.auth_token = token

        def process_auth_request(self, request, http_client):
            request.header_params["X-Auth-Token"] = self.auth_token
            request.header_params["X-Project-Id"] = self.project_id
            Signer.process_request_uri(request)  # builds "path?canonical-query"; no signature
            return http_client.executor.submit(lambda: request)

    return BasicCredentials(auth_token, project_id)


def skewed_credentials(ak: str, sk: str, project_id: str, skew: timedelta) -> SdkBasicCredentials:
    """AK/SK credentials whose requests carry ``X-Sdk-Date = now + skew``.

    ``Signer._process_header_time`` reuses an ``X-Sdk-Date`` that is already in the headers (format
    ``%Y%m%dT%H%M%SZ``) and signs with it, so setting it before ``sign_request`` gives a correctly signed request
    with a stale (or future) date.
    """

    class BasicCredentials(SdkBasicCredentials):  # the name matters for DcsClient's builder
        def sign_request(self, request):
            when = datetime.now(timezone.utc) + skew
            request.header_params["X-Sdk-Date"] = when.strftime("%Y%m%dT%H%M%SZ")
            return super().sign_request(request)

    return BasicCredentials(ak, sk, project_id)


def signed_request(base_url: str, method: str, path: str, *, ak: Optional[str], sk: Optional[str],
                   project_id: Optional[str] = None, query: Iterable[tuple[str, Any]] = (),
                   body: Any = None, extra_headers: Optional[dict] = None) -> requests.Response:
    """A raw HTTP request signed exactly like the SDK does (its own ``Signer``), for what the SDK can't send
    (query aliases, odd methods) and for looking at raw bodies and headers. ``ak=None`` sends it unsigned."""
    parsed = urlparse(base_url)
    headers = {"Content-Type": "application/json"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json;charset=utf-8"
        data = json.dumps(body).encode("utf-8")
    if project_id:
        headers["X-Project-Id"] = project_id
    headers.update(extra_headers or {})
    request = SdkRequest(method=method, schema=parsed.scheme, host=parsed.netloc, resource_path=path,
                         query_params=[(k, str(v)) for k, v in query], header_params=headers, body=data)
    if ak is not None:
        Signer(SdkBasicCredentials(ak, sk)).sign(request)
    else:
        Signer.process_request_uri(request)
    return requests.request(method, request.url, headers=request.header_params, data=request.body,
                            timeout=60, allow_redirects=False)


# --------------------------------------------------------------------------------------------------- redis


class RespError(Exception):
    pass


def read_resp(f, raw: bool = False) -> Any:
    """Reads one RESP2 reply from a binary file; bulk strings as bytes when `raw`, else decoded text."""
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RespError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data if raw else data.decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_resp(f, raw) for _ in range(n)]
    raise ValueError(f"unexpected RESP line {line!r}")


def redis_command(port: int, *args: str, password: Optional[str] = None, host: str = "127.0.0.1") -> Any:
    """Run one command on a redis server (minimal RESP client, so the suite needs no redis package)."""

    def encode(parts: tuple[str, ...]) -> bytes:
        out = [b"*%d\r\n" % len(parts)]
        for p in parts:
            b = p.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    with socket.create_connection((host, port), timeout=5) as s:
        f = s.makefile("rb")
        if password is not None:
            s.sendall(encode(("AUTH", password)))
            read_resp(f)
        s.sendall(encode(tuple(args)))
        return read_resp(f)


@dataclass
class RedisServer:
    port: int
    password: Optional[str]
    workdir: Path
    proc: subprocess.Popen
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self, *args: str) -> Any:
        return redis_command(self.port, *args, password=self.password, host=self.host)


@dataclass
class RedisFactory:
    binary: str
    base_dir: Path
    servers: list[RedisServer] = field(default_factory=list)

    def start(self, password: Optional[str] = None, *, extra_args: Iterable[str] = (),
              rdb_file: Optional[Path] = None) -> RedisServer:
        """Start a redis-server. ``extra_args`` are appended to the command line (e.g.
        ``("--repl-diskless-sync", "no")``); ``rdb_file`` is copied to ``<workdir>/dump.rdb`` first, so the
        server starts with that snapshot loaded."""
        port = free_port()
        workdir = self.base_dir / f"redis-{port}"
        workdir.mkdir(parents=True)
        log = workdir / "redis.log"
        if rdb_file is not None:
            shutil.copyfile(rdb_file, workdir / "dump.rdb")
        args = [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
                "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--protected-mode", "no"]
        if password is not None:
            args += ["--requirepass", password]
        args += list(extra_args)
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        server = RedisServer(port=port, password=password, workdir=workdir, proc=proc)
        self.servers.append(server)
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited with {proc.returncode}:\n{tail(log)}")
            try:
                if server.command("PING") == "PONG":
                    return server
            except (OSError, RespError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server on port {port} did not answer PING within 15 s:\n{tail(log)}")
            time.sleep(0.05)

    def stop_all(self) -> None:
        for server in self.servers:
            stop_process(server.proc)


@pytest.fixture(scope="session")
def redis_bin() -> str:
    path = shutil.which("redis-server")
    if not path:
        pytest.fail("redis-server is not on PATH (Debian: apt-get install redis-server)")
    return path


@pytest.fixture(scope="session")
def redis_version(redis_bin: str) -> str:
    """Full version of the local redis-server, e.g. ``7.0.15``."""
    out = subprocess.run([redis_bin, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"v=(\d+\.\d+\.\d+)", out)
    assert match, f"cannot parse redis-server --version: {out!r}"
    return match.group(1)


@pytest.fixture(scope="session")
def redis_factory(redis_bin: str, tmp_path_factory: pytest.TempPathFactory):
    """Starts redis-server processes on free loopback ports; stops them all at the end of the session.

    Every instance the suite creates adopts its own server, so no test depends on whether Coffer lets two
    instances adopt the same address.
    """
    factory = RedisFactory(binary=redis_bin, base_dir=tmp_path_factory.mktemp("redis"))
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def redis_pw(redis_factory: RedisFactory) -> RedisServer:
    """A password-protected redis-server for the whole session."""
    return redis_factory.start(password=random_secret(20))


@pytest.fixture(scope="session")
def redis_nopw(redis_factory: RedisFactory) -> RedisServer:
    """A redis-server without a password for the whole session."""
    return redis_factory.start(password=None)


# --------------------------------------------------------------------------------------------------- coffer


# The bearer token /metrics asks for (without it, per-instance series are left out).
METRICS_TOKEN = "metrics-" + "".join(random.choice(string.ascii_lowercase) for _ in range(16))


@dataclass
class Coffer:
    binary: str
    url: str
    port: int
    data_dir: Path
    log: Path
    proc: subprocess.Popen
    admin_password: str
    admin_access_key: str
    admin_secret_key: str
    bootstrap: dict

    @property
    def project_id(self) -> str:
        return self.bootstrap["project_id"]

    def admin(self, *args: str) -> dict:
        """``$COFFER_BIN admin ARGS --data-dir D``; returns its JSON output."""
        cmd = [self.binary, "admin", *args, "--data-dir", str(self.data_dir)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} exited {result.returncode}\nstdout: {result.stdout}\n"
                        f"stderr: {result.stderr}")
        try:
            return json.loads(result.stdout)
        except ValueError:
            pytest.fail(f"{' '.join(cmd)} did not print JSON: {result.stdout!r} (stderr: {result.stderr!r})")


@pytest.fixture(scope="session")
def coffer_bin() -> str:
    value = os.environ.get("COFFER_BIN")
    if not value:
        pytest.fail("COFFER_BIN is not set: point it at a built coffer binary, e.g. "
                    "COFFER_BIN=$(swift build --show-bin-path)/coffer", pytrace=False)
    path = os.path.abspath(value)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"COFFER_BIN={value!r} is not an executable file", pytrace=False)
    return path


@pytest.fixture(scope="session")
def coffer(coffer_bin: str, tmp_path_factory: pytest.TempPathFactory):
    """One Coffer server for the session, on a fresh data dir, bootstrapped from COFFER_ADMIN_* variables."""
    base = tmp_path_factory.mktemp("coffer")
    data_dir = base / "data"
    data_dir.mkdir()
    log = base / "coffer.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    admin_password = "Adm1n-" + random_secret(16)
    admin_ak = "CFR" + random_secret(17, string.ascii_uppercase + string.digits)
    admin_sk = random_secret(40)
    env = dict(os.environ)
    env.update(COFFER_ADMIN_PASSWORD=admin_password, COFFER_ADMIN_ACCESS_KEY=admin_ak,
               COFFER_ADMIN_SECRET_KEY=admin_sk, COFFER_METRICS_TOKEN=METRICS_TOKEN)
    cmd = [coffer_bin, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
           "--region", REGION]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"coffer serve exited with {proc.returncode} before /health answered:\n{tail(log)}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"coffer /health did not answer 200 within {HEALTH_TIMEOUT_S:.0f} s:\n{tail(log)}")
            time.sleep(0.1)
        bootstrap_path = data_dir / "bootstrap.json"
        if not bootstrap_path.is_file():
            pytest.fail(f"{bootstrap_path} was not written on first start")
        bootstrap = json.loads(bootstrap_path.read_text())
        yield Coffer(binary=coffer_bin, url=url, port=port, data_dir=data_dir, log=log, proc=proc,
                     admin_password=admin_password, admin_access_key=admin_ak, admin_secret_key=admin_sk,
                     bootstrap=bootstrap)
    finally:
        was_running = proc.poll() is None
        code = stop_process(proc)
        if was_running and code not in (0, -signal.SIGTERM):
            print(f"\ncoffer serve exited with {code} on SIGTERM; log tail:\n{tail(log)}")


@pytest.fixture(scope="session")
def bootstrap(coffer: Coffer) -> dict:
    return coffer.bootstrap


@pytest.fixture(scope="session")
def project_id(coffer: Coffer) -> str:
    return coffer.project_id


@pytest.fixture(scope="session")
def dcs(coffer: Coffer) -> DcsClient:
    """DcsClient with the bootstrap admin's AK/SK and project. Never used for failing-auth tests, so the admin
    AK is never locked."""
    return dcs_client(coffer.url, SdkBasicCredentials(coffer.admin_access_key, coffer.admin_secret_key,
                                                      coffer.project_id))


@pytest.fixture
def fresh_credential(coffer: Coffer) -> dict:
    """A new AK/SK of the admin user (project local-1), for tests that make authentication fail: failures count
    towards the per-AK lockout, so they must never use the shared admin AK."""
    cred = coffer.admin("credential", "create", "--user", ADMIN_USER)
    assert set(cred) >= {"access", "secret", "project_id", "user"}, cred
    assert cred["project_id"] == coffer.project_id, cred
    return cred


@dataclass
class Tenant:
    project: dict
    user: dict
    password: str
    credential: dict

    @property
    def project_id(self) -> str:
        return self.project["id"]


@pytest.fixture(scope="session")
def second_tenant(coffer: Coffer) -> Tenant:
    """A second project with its own user and AK/SK, created through the admin CLI while the server runs."""
    project = coffer.admin("project", "create", SECOND_PROJECT_NAME)
    assert set(project) >= {"id", "name", "domain_id"}, project
    assert PROJECT_ID_RE.match(project["id"]), project
    assert project["name"] == SECOND_PROJECT_NAME
    assert project["id"] != coffer.project_id
    password = "Sec0nd-" + random_secret(16)
    user = coffer.admin("user", "create", SECOND_USER, "--password", password, "--project", project["id"])
    assert set(user) >= {"id", "name", "project_id"}, user
    assert user["name"] == SECOND_USER and user["project_id"] == project["id"], user
    credential = coffer.admin("credential", "create", "--user", SECOND_USER)
    assert set(credential) >= {"access", "secret", "project_id", "user"}, credential
    assert credential["project_id"] == project["id"], credential
    return Tenant(project=project, user=user, password=password, credential=credential)


def create_adopting_instance(client: DcsClient, name: str, redis: RedisServer, **extra: Any):
    """create_instance adopting ``redis``; returns the SDK response."""
    fields = dict(name=name, engine="Redis", engine_version="7.0", capacity=1,
                  spec_code="redis.ha.xu1.large.r2.1", az_codes=["az1"], vpc_id="vpc", subnet_id="subnet",
                  private_ip=redis.host, port=redis.port)
    if redis.password is not None:
        fields["password"] = redis.password
    else:
        fields["no_password_access"] = True
    fields.update(extra)
    return client.create_instance(CreateInstanceRequest(body=CreateInstanceBody(**fields)))


@pytest.fixture(scope="session")
def primary_instance(dcs: DcsClient, redis_factory: RedisFactory) -> str:
    """An instance of the bootstrap project that no test modifies and that never gets backup records."""
    resp = create_adopting_instance(dcs, "primary-01", redis_factory.start(password=None))
    return resp.instances[0].instance_id


# --------------------------------------------------------------------------------------------------- store access

# Real backups are made with copy_instance (test_dcs_backups.py), but their created_at is always "now". The
# list tests need many records at chosen past times and in every status, so they insert them straight into the
# SQLite store with this helper.

BACKUP_COLUMNS = ("id", "project_id", "instance_id", "name", "backup_type", "backup_format", "status", "progress",
                  "size", "remark", "error_code", "period", "is_support_restore", "created_at", "updated_at",
                  "execution_at", "blob_key", "sha256")


def insert_backup_record(data_dir: Path, *, project_id: str, instance_id: str, created_at_ms: int,
                         **overrides: Any) -> dict:
    """Insert one row into ``dcs_backups`` of ``<data_dir>/coffer.sqlite``; returns the row as a dict.

    Times are epoch milliseconds (UTC). Defaults describe a finished manual RDB backup.
    """
    created = datetime.fromtimestamp(created_at_ms / 1000, tz=timezone.utc)
    row = dict(id=str(uuid.uuid4()), project_id=project_id, instance_id=instance_id,
               name="backup_" + created.strftime("%Y%m%d%H%M%S"), backup_type="manual", backup_format="rdb",
               status="succeed", progress="100.00", size=880232, remark=None, error_code=None, period=None,
               is_support_restore="TRUE", created_at=created_at_ms, updated_at=created_at_ms + 74_380,
               execution_at=None, blob_key=None, sha256=None)
    unknown = set(overrides) - set(row)
    assert not unknown, f"unknown dcs_backups columns {unknown}"
    row.update(overrides)
    # The store keeps typed values (migration 0006): progress in hundredths of a percent, the flag as 0/1; the
    # returned row keeps the wire forms the API must show. The per-day and per-hour counts move with the insert,
    # as the server's own insert does.
    stored = dict(row, progress=round(float(row["progress"]) * 100), is_support_restore=int(row["is_support_restore"] == "TRUE"))
    conn = sqlite3.connect(str(data_dir / "coffer.sqlite"), timeout=30)
    try:
        with conn:
            conn.execute(f"INSERT INTO dcs_backups ({', '.join(BACKUP_COLUMNS)}) "
                         f"VALUES ({', '.join('?' for _ in BACKUP_COLUMNS)})",
                         [stored[c] for c in BACKUP_COLUMNS])
            for table, column, millis in (("dcs_backup_day_counts", "day", 86_400_000), ("dcs_backup_hour_counts", "hour", 3_600_000)):
                conn.execute(f"INSERT INTO {table} (project_id, instance_id, {column}, records) VALUES (?, ?, ?, 1) "
                             f"ON CONFLICT (project_id, instance_id, {column}) DO UPDATE SET records = records + 1",
                             [project_id, instance_id, created_at_ms // millis])
    finally:
        conn.close()
    return row
