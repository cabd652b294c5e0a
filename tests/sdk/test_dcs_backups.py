"""DCS v2 backups through the official SDK (reference 2.2–2.5, 7.0, 7.1.3), against real redis-server processes.

* ``copy_instance`` pulls a point-in-time RDB from the adopted redis over the replication protocol; the record
  moves ``waiting`` → ``backuping`` → ``succeed`` | ``failed`` in ``list_backup_records``.
* ``list_backup_file_links`` hands out a presigned link on Coffer itself (``GET /downloads/dcs/…?Expires=&Signature=``,
  no credentials); the file must be a valid RDB that restores the same dataset.
* ``delete_backup_file`` removes the file; the record stays listed as ``deleted``.
* Busy instances (``DCS.4096``/``DCS.4026``, ``task: BACKUPING``), a redis killed mid-backup (``dcs.08.0001``) and
  request validation.

Every redis-server here runs with ``--repl-diskless-sync-delay 0`` (Redis 7 otherwise waits 5 s before each
diskless transfer); the successful path runs against both ``--repl-diskless-sync yes`` and ``no``. Backups are
slowed down, where a test needs one to be running, with ``CONFIG SET rdb-key-save-delay`` (microseconds per key,
applied by the fork child that writes the snapshot).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Optional
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdcs.v2 import (
    BackupInstanceBody,
    CopyInstanceRequest,
    DeleteBackupFileRequest,
    DeleteSingleInstanceRequest,
    DownloadBackupFilesReq,
    ListBackupFileLinksRequest,
    ListBackupRecordsRequest,
    ShowInstanceRequest,
)

from conftest import (
    DCS_TIME_RE,
    RedisFactory,
    RedisServer,
    RespError,
    read_resp,
    assert_sdk_error,
    create_adopting_instance,
    dcs_client,
    is_int,
    random_secret,
    signed_request,
)

BACKUP_DONE_TIMEOUT_S = 60.0
FAILURE_TIMEOUT_S = 20.0
POLL_INTERVAL_S = 0.1
# A running backup long enough to make several requests meanwhile: SLOW_KEYS keys × SLOW_DELAY_US µs ≈ 3 s.
SLOW_KEYS = 300
SLOW_DELAY_US = 10_000

BACKUP_NAME_RE = re.compile(r"^backup_\d{17}$")
PROGRESS_RE = re.compile(r"^\d{1,3}\.\d{2}$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
RECORD_KEYS = {"backup_id", "backup_name", "instance_id", "size", "backup_type", "backup_format", "created_at",
               "updated_at", "progress", "status", "is_support_restore"}


# --------------------------------------------------------------------------------------------------- redis helpers


class Resp:
    """A pipelining RESP2 client on one connection, bulk strings kept as bytes (conftest's `redis_command` runs one
    command per connection; loading and comparing datasets needs SELECT and pipelines). Replies: `read_resp`."""

    def __init__(self, server: RedisServer):
        self.sock = socket.create_connection((server.host, server.port), timeout=30)
        self.file = self.sock.makefile("rb")
        if server.password is not None:
            self.call("AUTH", server.password)

    def __enter__(self) -> "Resp":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.file.close()
        self.sock.close()

    @staticmethod
    def _encode(args: Iterable[Any]) -> bytes:
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        out = [b"*%d\r\n" % len(parts)]
        for p in parts:
            out.append(b"$%d\r\n%s\r\n" % (len(p), p))
        return b"".join(out)

    def pipeline(self, commands: list[tuple]) -> list[Any]:
        self.sock.sendall(b"".join(self._encode(c) for c in commands))
        return [read_resp(self.file, raw=True) for _ in commands]

    def call(self, *args: Any) -> Any:
        return self.pipeline([args])[0]


def backup_redis_args(diskless: str, redis_version: str) -> list[str]:
    args = ["--repl-diskless-sync", diskless, "--repl-diskless-sync-delay", "0"]
    if int(redis_version.split(".")[0]) >= 7:
        args += ["--enable-debug-command", "local"]  # DEBUG DIGEST, to compare whole datasets
    return args


@dataclass
class Dataset:
    """What was written: the key names per db, and a sample of (db, key) to compare value by value."""
    keys: dict[int, list[str]]
    sample: list[tuple[int, str]]

    def dbsizes(self) -> dict[int, int]:
        return {db: len(keys) for db, keys in self.keys.items()}


def load_dataset(server: RedisServer) -> Dataset:
    """About 4,700 keys of every common type and encoding in db 0, plus 500 strings in db 3; some expire in an
    hour. Deterministic (seeded) contents."""
    rnd = random.Random(20240301)
    commands: list[tuple] = []
    keys: dict[int, list[str]] = {0: [], 3: []}

    def text(n: int) -> str:
        return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 -_") for _ in range(n))

    for i in range(2500):
        key = f"str:{i:05d}"
        value = str(rnd.randint(-10**12, 10**12)) if i % 3 == 0 else text(rnd.randint(1, 300))
        commands.append(("SET", key, value))
        if i % 10 == 0:
            commands.append(("PEXPIRE", key, 3_600_000))
        keys[0].append(key)
    commands.append(("SET", "str:big", text(64) * 16384))  # 1 MiB
    commands.append(("SET", "str:binary", bytes(range(256)) * 4))
    keys[0] += ["str:big", "str:binary"]
    for i in range(400):
        fields = [x for j in range(i % 20 + 1) for x in (f"f{j}", text(rnd.randint(1, 40)))]
        commands.append(("HSET", f"hash:{i:04d}", *fields))
        commands.append(("RPUSH", f"list:{i:04d}", *[text(rnd.randint(1, 30)) for _ in range(i % 30 + 1)]))
        members = [rnd.randint(0, 10**6) for _ in range(i % 25 + 1)] if i % 2 == 0 else \
            [text(8) for _ in range(i % 25 + 1)]
        commands.append(("SADD", f"set:{i:04d}", *members))
        commands.append(("ZADD", f"zset:{i:04d}",
                         *[x for j in range(i % 25 + 1) for x in (repr(rnd.uniform(-1000, 1000)), f"m{j}")]))
        keys[0] += [f"hash:{i:04d}", f"list:{i:04d}", f"set:{i:04d}", f"zset:{i:04d}"]
        if i % 50 == 0:
            commands.append(("EXPIRE", f"hash:{i:04d}", 3600))
    # Large ones, past every compact encoding (hashtable, multi-node quicklist, skiplist).
    commands.append(("HSET", "hash:big", *[x for j in range(2000) for x in (f"field{j}", text(20))]))
    commands.append(("RPUSH", "list:big", *[text(16) for _ in range(5000)]))
    commands.append(("SADD", "set:big", *[text(12) for _ in range(2000)]))
    commands.append(("ZADD", "zset:big", *[x for j in range(2000) for x in (str(j * 1.5), f"member{j}")]))
    keys[0] += ["hash:big", "list:big", "set:big", "zset:big"]
    for i in range(20):
        for j in range(10):
            commands.append(("XADD", f"stream:{i:02d}", f"{1_700_000_000_000 + j}-{i}", "field", text(10), "n", j))
        keys[0].append(f"stream:{i:02d}")
    commands.append(("SELECT", 3))
    for i in range(500):
        commands.append(("SET", f"db3:{i:04d}", text(20)))
        keys[3].append(f"db3:{i:04d}")
    commands.append(("SELECT", 0))
    with Resp(server) as conn:
        conn.pipeline(commands)
        for db, names in keys.items():
            conn.call("SELECT", db)
            assert conn.call("DBSIZE") == len(names), f"dataset not written completely in db {db}"
    sample = [(0, k) for k in keys[0][::37]] + [(0, k) for k in keys[0] if k.endswith(":big") or
                                                 k == "str:binary" or k.startswith("stream:")]
    sample += [(3, k) for k in keys[3][::25]]
    return Dataset(keys=keys, sample=sample)


def read_values(server: RedisServer, sample: list[tuple[int, str]]) -> dict[tuple[int, str], tuple]:
    """(type, value, expires?) of each sampled key, in comparable form."""
    out = {}
    with Resp(server) as conn:
        for db, key in sample:
            conn.call("SELECT", db)
            kind = conn.call("TYPE", key)
            reader = {"string": ("GET", key), "hash": ("HGETALL", key), "list": ("LRANGE", key, 0, -1),
                      "set": ("SMEMBERS", key), "zset": ("ZRANGE", key, 0, -1, "WITHSCORES"),
                      "stream": ("XRANGE", key, "-", "+")}[kind]
            value, pttl = conn.pipeline([reader, ("PTTL", key)])
            if kind == "hash":
                value = sorted(zip(value[::2], value[1::2]))
            elif kind == "set":
                value = sorted(value)
            out[(db, key)] = (kind, value, pttl > 0)
    return out


def dbsizes(server: RedisServer, dbs: Iterable[int]) -> dict[int, int]:
    with Resp(server) as conn:
        return {db: conn.pipeline([("SELECT", db), ("DBSIZE",)])[1] for db in dbs}


def debug_digest(server: RedisServer) -> Optional[bytes]:
    """DEBUG DIGEST (a hash of every key, value and expiry), or None where DEBUG is not enabled."""
    try:
        with Resp(server) as conn:
            return conn.call("DEBUG", "DIGEST")
    except RespError:
        return None


def fill_slow(server: RedisServer) -> None:
    """SLOW_KEYS keys of 1 KiB of incompressible data: with SLOW_DELAY_US per key a snapshot then takes about 3 s,
    and a diskless transfer sends data all along (so progress can be seen rising)."""
    with Resp(server) as conn:
        conn.pipeline([("SET", f"slow:{i:04d}", os.urandom(1024)) for i in range(SLOW_KEYS)])


def fork_children(server: RedisServer) -> list[int]:
    """PIDs of the redis-server's children (the fork that writes a snapshot), from /proc."""
    try:
        with open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def wait_until_snapshotting(dcs, server: RedisServer, instance_id: str, backup_id: str) -> list[int]:
    """Wait until the redis has forked the child that writes the snapshot and the record says ``backuping``;
    returns the child PIDs. (The child keeps the ``rdb-key-save-delay`` it was forked with.)"""
    deadline = time.monotonic() + 10
    while True:
        children = fork_children(server)
        if children and record(dcs, instance_id, backup_id)["status"] == "backuping":
            return children
        assert time.monotonic() < deadline, "the backup never started writing a snapshot"
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------------- API helpers


def unique_name(prefix: str) -> str:
    return f"{prefix}-{random_secret(6).lower()}"


def copy_instance(dcs, instance_id: str, **body: Any) -> str:
    request = CopyInstanceRequest(instance_id=instance_id, body=BackupInstanceBody(**body) if body else None)
    resp = dcs.copy_instance(request)
    assert resp.status_code == 200, resp.status_code
    raw = resp.to_json_object()
    assert set(raw) == {"backup_id"} and isinstance(raw["backup_id"], str), raw
    assert str(uuid.UUID(raw["backup_id"])) == raw["backup_id"], raw
    assert resp.backup_id == raw["backup_id"]
    return raw["backup_id"]


def list_records(dcs, instance_id: str) -> list[dict]:
    resp = dcs.list_backup_records(ListBackupRecordsRequest(instance_id=instance_id, limit=1000))
    assert resp.status_code == 200
    raw = resp.to_json_object()
    assert raw["total_num"] == len(raw["backup_record_response"]), raw
    return raw["backup_record_response"]


def record(dcs, instance_id: str, backup_id: str) -> dict:
    matches = [r for r in list_records(dcs, instance_id) if r["backup_id"] == backup_id]
    assert len(matches) == 1, f"backup {backup_id} listed {len(matches)} times"
    return matches[0]


def wait_for_backup(dcs, instance_id: str, backup_id: str, final: Iterable[str] = ("succeed", "failed"),
                    timeout: float = BACKUP_DONE_TIMEOUT_S) -> tuple[dict, list[str]]:
    """Poll list_backup_records until the record's status is in ``final``. Returns the record and the statuses
    seen on the way (consecutive duplicates removed). Checks that statuses and progress stay well-formed."""
    final = set(final)
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        rec = record(dcs, instance_id, backup_id)
        assert isinstance(rec["progress"], str) and PROGRESS_RE.match(rec["progress"]), rec
        if not seen or seen[-1] != rec["status"]:
            seen.append(rec["status"])
        if rec["status"] in final:
            return rec, seen
        assert rec["status"] in ("waiting", "backuping"), rec
        if time.monotonic() > deadline:
            pytest.fail(f"backup {backup_id} still {rec['status']} after {timeout:.0f} s: {rec}")
        time.sleep(POLL_INTERVAL_S)


def create_links(dcs, instance_id: str, backup_id: str, expiration: Optional[int] = 3600):
    body = DownloadBackupFilesReq(expiration=expiration)
    return dcs.list_backup_file_links(ListBackupFileLinksRequest(instance_id=instance_id, backup_id=backup_id,
                                                                 body=body))


def link_of(dcs, instance_id: str, backup_id: str, expiration: int = 3600) -> str:
    resp = create_links(dcs, instance_id, backup_id, expiration)
    assert resp.status_code == 200
    return resp.to_json_object()["links"][0]["link"]


def show_raw(dcs, instance_id: str) -> dict:
    resp = dcs.show_instance(ShowInstanceRequest(instance_id=instance_id))
    assert resp.status_code == 200
    return resp.to_json_object()


def assert_download_denied(resp: requests.Response) -> None:
    """403 with a DCS error body, as for every DCS error."""
    assert resp.status_code == 403, (resp.status_code, resp.text[:200])
    assert resp.headers.get("X-Request-Id"), resp.headers
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body["error_code"] == "DCS.2003", body
    assert isinstance(body["error_msg"], str) and body["error_msg"], body
    assert "error_ext_msg" in body and body["error_ext_msg"] is None, body


def parse_dcs_time(value: str) -> datetime:
    assert isinstance(value, str) and DCS_TIME_RE.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def with_query(link: str, **changes: Optional[str]) -> str:
    """The link with query values replaced (None drops the parameter)."""
    parts = urlparse(link)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for k, v in changes.items():
        if v is None:
            query.pop(k, None)
        else:
            query[k] = v
    return urlunparse(parts._replace(query=urlencode(query)))


def with_path_segment(link: str, index: int, value: str) -> str:
    """The link with path segment ``index`` (of /downloads/dcs/<project>/<instance>/<backup>/<file>) replaced."""
    parts = urlparse(link)
    segments = parts.path.split("/")
    segments[index] = value
    return urlunparse(parts._replace(path="/".join(segments)))


def flip_hex(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


# =================================================================================================== success path


@dataclass
class Source:
    mode: str
    server: RedisServer
    dataset: Dataset
    instance_id: str


@dataclass
class FinishedBackup:
    source: Source
    backup_id: str
    record: dict
    statuses: list[str]
    requested_at: datetime
    answered_at: datetime
    remark: str


@pytest.fixture(scope="module", params=["yes", "no"], ids=["diskless", "disk"])
def source(request, dcs, redis_factory: RedisFactory, redis_version: str) -> Source:
    """A redis with the dataset (diskless or disk-based replication), adopted by a new instance."""
    server = redis_factory.start(extra_args=backup_redis_args(request.param, redis_version))
    dataset = load_dataset(server)
    instance_id = create_adopting_instance(dcs, unique_name(f"bk-{request.param}"), server).instances[0].instance_id
    return Source(mode=request.param, server=server, dataset=dataset, instance_id=instance_id)


@pytest.fixture(scope="module")
def finished(dcs, source: Source) -> FinishedBackup:
    remark = "nightly ✓ " + source.mode
    before = datetime.now(timezone.utc)
    backup_id = copy_instance(dcs, source.instance_id, remark=remark, backup_format="rdb")
    after = datetime.now(timezone.utc)
    rec, statuses = wait_for_backup(dcs, source.instance_id, backup_id)
    assert rec["status"] == "succeed", rec
    return FinishedBackup(source=source, backup_id=backup_id, record=rec, statuses=statuses, requested_at=before,
                          answered_at=after, remark=remark)


@dataclass
class Download:
    links: dict
    expiration: int
    linked_at: float
    response: requests.Response
    data: bytes
    path: Path


@pytest.fixture(scope="module")
def download(dcs, finished: FinishedBackup, tmp_path_factory) -> Download:
    expiration = 7200
    linked_at = time.time()
    resp = create_links(dcs, finished.source.instance_id, finished.backup_id, expiration)
    assert resp.status_code == 200
    links = resp.to_json_object()
    got = requests.get(links["links"][0]["link"], timeout=60)  # no credentials at all
    path = tmp_path_factory.mktemp("download") / links["links"][0]["file_name"]
    path.write_bytes(got.content)
    return Download(links=links, expiration=expiration, linked_at=linked_at, response=got, data=got.content,
                    path=path)


def test_record_lifecycle_and_wire_types(dcs, project_id, finished: FinishedBackup):
    rec = finished.record
    assert finished.statuses[-1] == "succeed"
    assert set(finished.statuses) <= {"waiting", "backuping", "succeed"}, finished.statuses
    assert set(rec) >= RECORD_KEYS, rec
    assert rec["backup_id"] == finished.backup_id
    assert rec["instance_id"] == finished.source.instance_id
    assert rec["backup_type"] == "manual"
    assert rec["backup_format"] == "rdb"
    assert rec["status"] == "succeed"
    assert rec["progress"] == "100.00"
    assert rec["is_support_restore"] == "TRUE"
    assert is_int(rec["size"]) and rec["size"] > 0, rec["size"]
    assert rec.get("error_code") is None, rec
    assert rec.get("period") is None, rec
    assert rec["remark"] == finished.remark
    created = parse_dcs_time(rec["created_at"])
    executed = parse_dcs_time(rec["execution_at"])
    updated = parse_dcs_time(rec["updated_at"])
    slack = timedelta(seconds=2)
    assert finished.requested_at - slack <= created <= finished.answered_at + slack, (created, finished)
    assert created <= executed <= updated, rec
    # backup_<yyyyMMddHHmmss><ms>, the creation time in UTC.
    assert BACKUP_NAME_RE.match(rec["backup_name"]), rec["backup_name"]
    assert rec["backup_name"] == "backup_" + created.strftime("%Y%m%d%H%M%S") + rec["created_at"][20:23]


def test_sdk_model_of_a_real_record(dcs, finished: FinishedBackup):
    resp = dcs.list_backup_records(ListBackupRecordsRequest(instance_id=finished.source.instance_id, limit=1000))
    rec = [r for r in resp.backup_record_response if r.backup_id == finished.backup_id][0]
    assert rec.status == "succeed" and rec.progress == "100.00" and rec.is_support_restore == "TRUE"
    assert isinstance(rec.size, int) and rec.size == finished.record["size"]
    assert rec.error_code is None and rec.backup_format == "rdb" and rec.backup_type == "manual"


def test_task_is_null_when_no_backup_runs(dcs, finished: FinishedBackup):
    raw = show_raw(dcs, finished.source.instance_id)
    assert "task" in raw and raw["task"] is None, raw.get("task")


def test_links_response(coffer, project_id, finished: FinishedBackup, download: Download):
    links = download.links
    assert set(links) == {"file_path", "bucket_name", "links"}, links
    assert links["file_path"] == f"{finished.source.instance_id}/{finished.backup_id}/"
    assert links["bucket_name"] == f"coffer-dcs-{project_id}"
    assert isinstance(links["links"], list) and len(links["links"]) == 1, links
    item = links["links"][0]
    assert set(item) == {"file_name", "link"}, item
    created = parse_dcs_time(finished.record["created_at"])
    port = finished.source.server.port
    assert item["file_name"] == f"redis_127.0.0.1_{port}_{created.strftime('%Y%m%d%H%M%S')}.rdb", item
    url = urlparse(item["link"])
    assert f"{url.scheme}://{url.netloc}" == coffer.url, item["link"]
    assert url.path == (f"/downloads/dcs/{project_id}/{finished.source.instance_id}/{finished.backup_id}/"
                        f"{item['file_name']}"), url.path
    query = parse_qsl(url.query)
    assert [k for k, _ in query] == ["Expires", "Signature"], query
    expires, signature = int(query[0][1]), query[1][1]
    assert abs(expires - (download.linked_at + download.expiration)) <= 5, (expires, download.linked_at)
    assert HEX64_RE.match(signature), signature


def test_links_sdk_model(dcs, finished: FinishedBackup):
    resp = create_links(dcs, finished.source.instance_id, finished.backup_id, 300)
    assert resp.file_path == f"{finished.source.instance_id}/{finished.backup_id}/"
    assert len(resp.links) == 1 and resp.links[0].file_name.endswith(".rdb")
    assert resp.links[0].link.startswith("http://")


def test_download_headers_and_size(finished: FinishedBackup, download: Download):
    resp = download.response
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Accept-Ranges"] == "bytes"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{download.links["links"][0]["file_name"]}"'
    assert resp.headers.get("X-Request-Id")
    assert int(resp.headers["Content-Length"]) == len(download.data) == finished.record["size"]


def test_download_is_a_valid_rdb(download: Download):
    assert download.data.startswith(b"REDIS00"), download.data[:16]
    check = subprocess.run(["redis-check-rdb", str(download.path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_rdb_restores_the_same_dataset(finished: FinishedBackup, download: Download, redis_factory: RedisFactory,
                                       redis_version: str):
    source = finished.source
    restored = redis_factory.start(extra_args=backup_redis_args("yes", redis_version), rdb_file=download.path)
    expected = source.dataset.dbsizes()
    assert dbsizes(restored, expected) == expected
    assert dbsizes(source.server, expected) == expected, "the source changed during the test"
    assert read_values(restored, source.dataset.sample) == read_values(source.server, source.dataset.sample)
    digest = debug_digest(source.server)
    if int(redis_version.split(".")[0]) >= 7:
        assert digest is not None, "DEBUG should be enabled (--enable-debug-command local)"
    if digest is not None:
        assert debug_digest(restored) == digest, "DEBUG DIGEST differs between the source and the restored file"


def test_range_requests(download: Download):
    link, data, size = download.links["links"][0]["link"], download.data, len(download.data)
    cases = [("bytes=0-8", 0, 8), ("bytes=100-", 100, size - 1), ("bytes=-16", size - 16, size - 1),
             (f"bytes={size - 5}-{size + 1000}", size - 5, size - 1), ("bytes=0-0", 0, 0)]
    for header, first, last in cases:
        resp = requests.get(link, headers={"Range": header}, timeout=60)
        assert resp.status_code == 206, (header, resp.status_code)
        assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{size}", (header, resp.headers)
        assert int(resp.headers["Content-Length"]) == last - first + 1, header
        assert resp.content == data[first:last + 1], header
        assert resp.headers["Content-Disposition"].startswith("attachment; ") and resp.headers.get("X-Request-Id")
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}"):
        resp = requests.get(link, headers={"Range": header}, timeout=60)
        assert resp.status_code == 416, (header, resp.status_code)
        assert resp.headers["Content-Range"] == f"bytes */{size}", (header, resp.headers)
        assert resp.headers.get("X-Request-Id"), resp.headers
    # Forms that are not one satisfiable-or-not byte range are ignored: the whole file.
    for header in ("bytes=0-1,5-6", "bytes=9-3", "items=0-5"):
        resp = requests.get(link, headers={"Range": header}, timeout=60)
        assert resp.status_code == 200 and resp.content == data, (header, resp.status_code)


def test_head_answers_like_get(download: Download):
    resp = requests.head(download.links["links"][0]["link"], timeout=60)
    assert resp.status_code == 200
    assert int(resp.headers["Content-Length"]) == len(download.data)
    assert resp.content == b""


def test_tampered_or_incomplete_links_are_403(second_tenant, download: Download):
    link = download.links["links"][0]["link"]
    query = dict(parse_qsl(urlparse(link).query))
    expires, signature = query["Expires"], query["Signature"]
    tampered = {
        "later Expires": with_query(link, Expires=str(int(expires) + 1)),
        "earlier Expires": with_query(link, Expires=str(int(expires) - 86400)),
        "Expires in the past": with_query(link, Expires="1"),
        "Expires not a number": with_query(link, Expires="soon"),
        "changed Signature": with_query(link, Signature=flip_hex(signature)),
        "upper-case Signature": with_query(link, Signature=signature.upper()),
        "short Signature": with_query(link, Signature=signature[:-2]),
        "no Signature": with_query(link, Signature=None),
        "no Expires": with_query(link, Expires=None),
        "no query": link.split("?")[0],
        "other project": with_path_segment(link, 3, second_tenant.project_id),
        "malformed project": with_path_segment(link, 3, "not-a-project-id"),
        "upper-case project": with_path_segment(link, 3, urlparse(link).path.split("/")[3].upper()),
        "upper-case backup": with_path_segment(link, 5, urlparse(link).path.split("/")[5].upper()),
        "other instance": with_path_segment(link, 4, str(uuid.uuid4())),
        "other backup": with_path_segment(link, 5, str(uuid.uuid4())),
        "other file name": with_path_segment(link, 6, "redis_127.0.0.1_1_20000101000000.rdb"),
    }
    for name, url in tampered.items():
        resp = requests.get(url, timeout=60)
        assert resp.status_code == 403, (name, url, resp.status_code, resp.text[:200])
        assert_download_denied(resp)
    # The untouched link still works afterwards.
    assert requests.get(link, headers={"Range": "bytes=0-6"}, timeout=60).content == b"REDIS00"


def test_link_expiration_bounds(dcs, finished: FinishedBackup):
    for expiration in (300, 86400):
        before = time.time()
        link = link_of(dcs, finished.source.instance_id, finished.backup_id, expiration)
        expires = int(dict(parse_qsl(urlparse(link).query))["Expires"])
        assert abs(expires - (before + expiration)) <= 5, (expiration, expires, before)
    for expiration in (299, 86401, 0, -300):
        with pytest.raises(ClientRequestException) as excinfo:
            create_links(dcs, finished.source.instance_id, finished.backup_id, expiration)
        assert_sdk_error(excinfo.value, 400, "DCS.4800")


def test_link_request_body_errors(coffer, dcs, finished: FinishedBackup):
    instance_id, backup_id = finished.source.instance_id, finished.backup_id
    # DownloadBackupFilesReq() without expiration serialises to {}: expiration is required.
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.list_backup_file_links(ListBackupFileLinksRequest(instance_id=instance_id, backup_id=backup_id,
                                                              body=DownloadBackupFilesReq()))
    assert_sdk_error(excinfo.value, 400, "DCS.4800")
    # Without a body model the SDK sends no body at all.
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.list_backup_file_links(ListBackupFileLinksRequest(instance_id=instance_id, backup_id=backup_id))
    assert_sdk_error(excinfo.value, 400, "DCS.4004")
    # Not an integer (the v1 doc typed it as a string; the v2 SDK sends an int).
    path = f"/v2/{coffer.project_id}/instances/{instance_id}/backups/{backup_id}/links"
    for value in ("3600", 3600.5, True, None):
        resp = signed_request(coffer.url, "POST", path, ak=coffer.admin_access_key, sk=coffer.admin_secret_key,
                              project_id=coffer.project_id, body={"expiration": value})
        assert resp.status_code == 400, (value, resp.text)
        assert resp.json()["error_code"] == "DCS.4800", (value, resp.text)


def test_links_of_unknown_backups_are_4031(dcs, primary_instance, finished: FinishedBackup):
    for backup_id in (str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(ClientRequestException) as excinfo:
            create_links(dcs, finished.source.instance_id, backup_id)
        assert_sdk_error(excinfo.value, 400, "DCS.4031")
    with pytest.raises(ClientRequestException) as excinfo:
        create_links(dcs, primary_instance, finished.backup_id)  # a backup of another instance
    assert_sdk_error(excinfo.value, 400, "DCS.4031")
    with pytest.raises(ClientRequestException) as excinfo:
        create_links(dcs, str(uuid.uuid4()), finished.backup_id)
    assert_sdk_error(excinfo.value, 404, "DCS.3022")


def test_other_project_cannot_use_the_backup(coffer, second_tenant, finished: FinishedBackup):
    cred = second_tenant.credential
    other = dcs_client(coffer.url, BasicCredentials(cred["access"], cred["secret"], second_tenant.project_id))
    for call in (lambda: other.copy_instance(CopyInstanceRequest(instance_id=finished.source.instance_id)),
                 lambda: create_links(other, finished.source.instance_id, finished.backup_id),
                 lambda: other.delete_backup_file(DeleteBackupFileRequest(instance_id=finished.source.instance_id,
                                                                          backup_id=finished.backup_id))):
        with pytest.raises(ClientRequestException) as excinfo:
            call()
        assert_sdk_error(excinfo.value, 404, "DCS.3022")


def test_delete_backup_file(coffer, dcs, finished: FinishedBackup, download: Download):
    instance_id = finished.source.instance_id
    # Without a body the SDK sends none: defaults (rdb, no remark).
    backup_id = copy_instance(dcs, instance_id)
    rec, _ = wait_for_backup(dcs, instance_id, backup_id)
    assert rec["status"] == "succeed" and rec["backup_format"] == "rdb" and rec.get("remark") is None, rec
    link = link_of(dcs, instance_id, backup_id)
    assert requests.get(link, timeout=60).content.startswith(b"REDIS00")

    resp = dcs.delete_backup_file(DeleteBackupFileRequest(instance_id=instance_id, backup_id=backup_id))
    assert resp.status_code == 204
    assert resp.to_json_object() is None, "204 has no body"

    gone = record(dcs, instance_id, backup_id)
    assert gone["status"] == "deleted" and gone["is_support_restore"] == "FALSE", gone
    assert gone["backup_name"] == rec["backup_name"] and gone["created_at"] == rec["created_at"], gone
    assert gone.get("error_code") is None, gone
    assert_download_denied(requests.get(link, timeout=60))

    with pytest.raises(ClientRequestException) as excinfo:
        dcs.delete_backup_file(DeleteBackupFileRequest(instance_id=instance_id, backup_id=backup_id))
    assert_sdk_error(excinfo.value, 400, "DCS.4031")
    with pytest.raises(ClientRequestException) as excinfo:
        create_links(dcs, instance_id, backup_id)
    assert_sdk_error(excinfo.value, 400, "DCS.4031")
    # The raw error body of the repeated delete.
    resp = signed_request(coffer.url, "DELETE", f"/v2/{coffer.project_id}/instances/{instance_id}/backups/{backup_id}",
                          ak=coffer.admin_access_key, sk=coffer.admin_secret_key, project_id=coffer.project_id)
    assert resp.status_code == 400 and resp.headers.get("X-Request-Id")
    body = resp.json()
    assert body["error_code"] == "DCS.4031" and body["error_msg"] and body["error_ext_msg"] is None, body

    # The other backup of the instance is untouched.
    assert record(dcs, instance_id, finished.backup_id)["status"] == "succeed"
    assert requests.get(download.links["links"][0]["link"], headers={"Range": "bytes=0-6"},
                        timeout=60).status_code == 206


def test_delete_raw_204(coffer, dcs, finished: FinishedBackup):
    instance_id = finished.source.instance_id
    backup_id = copy_instance(dcs, instance_id, remark="raw delete")
    rec, _ = wait_for_backup(dcs, instance_id, backup_id)
    assert rec["status"] == "succeed", rec
    resp = signed_request(coffer.url, "DELETE", f"/v2/{coffer.project_id}/instances/{instance_id}/backups/{backup_id}",
                          ak=coffer.admin_access_key, sk=coffer.admin_secret_key, project_id=coffer.project_id)
    assert resp.status_code == 204, resp.text
    assert resp.content == b"" and resp.headers.get("X-Request-Id")
    assert record(dcs, instance_id, backup_id)["status"] == "deleted"


def test_delete_unknown_backups_are_4031(dcs, primary_instance, finished: FinishedBackup):
    for backup_id in (str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(ClientRequestException) as excinfo:
            dcs.delete_backup_file(DeleteBackupFileRequest(instance_id=finished.source.instance_id,
                                                           backup_id=backup_id))
        assert_sdk_error(excinfo.value, 400, "DCS.4031")
    # A backup id of another instance of the same project is unknown here.
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.delete_backup_file(DeleteBackupFileRequest(instance_id=primary_instance, backup_id=finished.backup_id))
    assert_sdk_error(excinfo.value, 400, "DCS.4031")
    assert record(dcs, finished.source.instance_id, finished.backup_id)["status"] == "succeed"
    with pytest.raises(ClientRequestException) as excinfo:
        dcs.delete_backup_file(DeleteBackupFileRequest(instance_id=str(uuid.uuid4()), backup_id=finished.backup_id))
    assert_sdk_error(excinfo.value, 404, "DCS.3022")


# =================================================================================================== busy instance


def test_busy_instance(dcs, redis_factory: RedisFactory, redis_version: str):
    server = redis_factory.start(extra_args=backup_redis_args("yes", redis_version))
    fill_slow(server)
    instance_id = create_adopting_instance(dcs, unique_name("bk-busy"), server).instances[0].instance_id
    server.command("CONFIG", "SET", "rdb-key-save-delay", str(SLOW_DELAY_US))
    try:
        first = copy_instance(dcs, instance_id, remark="slow")
        with pytest.raises(ClientRequestException) as excinfo:
            copy_instance(dcs, instance_id, remark="second")
        assert_sdk_error(excinfo.value, 400, "DCS.4096")
        wait_until_snapshotting(dcs, server, instance_id, first)
        with pytest.raises(ClientRequestException) as excinfo:
            copy_instance(dcs, instance_id)  # without a body too, and now while the snapshot is being written
        assert_sdk_error(excinfo.value, 400, "DCS.4096")

        raw = show_raw(dcs, instance_id)
        assert raw["task"] == "BACKUPING", raw.get("task")
        assert raw["status"] == "RUNNING", raw["status"]

        with pytest.raises(ClientRequestException) as excinfo:
            dcs.delete_single_instance(DeleteSingleInstanceRequest(instance_id=instance_id))
        assert_sdk_error(excinfo.value, 400, "DCS.4026")
        with pytest.raises(ClientRequestException) as excinfo:
            dcs.delete_backup_file(DeleteBackupFileRequest(instance_id=instance_id, backup_id=first))
        assert_sdk_error(excinfo.value, 400, "DCS.4096")
        with pytest.raises(ClientRequestException) as excinfo:
            create_links(dcs, instance_id, first)
        assert_sdk_error(excinfo.value, 400, "DCS.4800")

        running = list_records(dcs, instance_id)
        assert [r["backup_id"] for r in running] == [first], "refused requests leave no record"
        assert running[0]["status"] == "backuping", running[0]
        assert DCS_TIME_RE.match(running[0]["execution_at"]), running[0]
        assert running[0]["is_support_restore"] == "FALSE" and running[0].get("error_code") is None, running[0]
        assert is_int(running[0]["size"]), running[0]
    finally:
        # The fork that writes the snapshot keeps its delay; new snapshots are fast again.
        server.command("CONFIG", "SET", "rdb-key-save-delay", "0")

    # Progress rises while the snapshot streams (diskless: the data flows as the fork writes it).
    progress = set()
    while (rec := record(dcs, instance_id, first))["status"] == "backuping":
        progress.add(rec["progress"])
        time.sleep(POLL_INTERVAL_S)
    assert any(0 < float(p) < 100 for p in progress), f"no intermediate progress seen: {sorted(progress)}"
    rec, statuses = wait_for_backup(dcs, instance_id, first)
    assert rec["status"] == "succeed" and rec["progress"] == "100.00", (rec, statuses)
    assert show_raw(dcs, instance_id)["task"] is None
    # Free again: a new backup is accepted, and once it is done the instance can be deleted.
    second = copy_instance(dcs, instance_id)
    assert wait_for_backup(dcs, instance_id, second)[0]["status"] == "succeed"
    resp = dcs.delete_single_instance(DeleteSingleInstanceRequest(instance_id=instance_id))
    assert resp.status_code == 204


def test_concurrent_requests_start_one_backup(coffer, dcs, redis_factory: RedisFactory, redis_version: str):
    """Eight clients ask at once: exactly one backup is accepted, the others are DCS.4096."""
    server = redis_factory.start(extra_args=backup_redis_args("yes", redis_version))
    # The accepted backup must outlast the eight requests even on a loaded machine (an empty server's snapshot
    # takes milliseconds, after which a late request is rightly accepted): a few seconds of snapshot.
    fill_slow(server)
    server.command("CONFIG", "SET", "rdb-key-save-delay", str(SLOW_DELAY_US))
    instance_id = create_adopting_instance(dcs, unique_name("bk-race"), server).instances[0].instance_id
    credentials = BasicCredentials(coffer.admin_access_key, coffer.admin_secret_key, coffer.project_id)
    clients = [dcs_client(coffer.url, credentials) for _ in range(8)]
    barrier = threading.Barrier(len(clients))

    def attempt(client) -> str:
        barrier.wait(timeout=10)
        try:
            return copy_instance(client, instance_id)
        except ClientRequestException as exc:
            assert_sdk_error(exc, 400, "DCS.4096")
            return "DCS.4096"

    with ThreadPoolExecutor(len(clients)) as pool:
        outcomes = list(pool.map(attempt, clients))
    accepted = [o for o in outcomes if o != "DCS.4096"]
    assert len(accepted) == 1, outcomes
    assert [r["backup_id"] for r in list_records(dcs, instance_id)] == accepted
    server.command("CONFIG", "SET", "rdb-key-save-delay", "0")
    assert wait_for_backup(dcs, instance_id, accepted[0])[0]["status"] == "succeed"


# =================================================================================================== failures


@pytest.mark.parametrize("diskless", ["yes", "no"], ids=["diskless", "disk"])
def test_redis_killed_mid_backup(dcs, redis_factory: RedisFactory, redis_version: str, diskless: str):
    server = redis_factory.start(extra_args=backup_redis_args(diskless, redis_version))
    fill_slow(server)
    instance_id = create_adopting_instance(dcs, unique_name(f"bk-kill-{diskless}"), server).instances[0].instance_id
    server.command("CONFIG", "SET", "rdb-key-save-delay", str(SLOW_DELAY_US))
    backup_id = copy_instance(dcs, instance_id, remark="doomed")
    children = wait_until_snapshotting(dcs, server, instance_id, backup_id)
    # The fork inherits the replication socket: kill it too, as a crash of the host would, or the socket stays
    # open until the fork finishes on its own.
    server.proc.kill()
    server.proc.wait(timeout=10)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed_at = time.monotonic()

    rec, _ = wait_for_backup(dcs, instance_id, backup_id, timeout=FAILURE_TIMEOUT_S)
    assert time.monotonic() - killed_at < 15, "the failure took too long to be noticed"
    assert rec["status"] == "failed", rec
    assert rec["error_code"] == "dcs.08.0001", rec
    assert rec["is_support_restore"] == "FALSE", rec
    assert is_int(rec["size"]) and isinstance(rec["progress"], str), rec
    assert DCS_TIME_RE.match(rec["execution_at"]) and DCS_TIME_RE.match(rec["updated_at"]), rec
    assert rec["remark"] == "doomed"
    assert show_raw(dcs, instance_id)["task"] is None

    with pytest.raises(ClientRequestException) as excinfo:
        create_links(dcs, instance_id, backup_id)
    assert_sdk_error(excinfo.value, 400, "DCS.4800")

    # A failed backup can be deleted; it then stays listed as deleted.
    assert dcs.delete_backup_file(DeleteBackupFileRequest(instance_id=instance_id, backup_id=backup_id)).status_code \
        == 204
    assert record(dcs, instance_id, backup_id)["status"] == "deleted"


def test_backup_of_an_unreachable_redis_fails(dcs, redis_factory: RedisFactory, redis_version: str):
    server = redis_factory.start(extra_args=backup_redis_args("yes", redis_version))
    instance_id = create_adopting_instance(dcs, unique_name("bk-gone"), server).instances[0].instance_id
    server.proc.terminate()
    server.proc.wait(timeout=10)
    backup_id = copy_instance(dcs, instance_id)
    rec, _ = wait_for_backup(dcs, instance_id, backup_id, timeout=FAILURE_TIMEOUT_S)
    assert rec["status"] == "failed" and rec["error_code"] == "dcs.08.0001", rec
    assert rec["is_support_restore"] == "FALSE"


def test_backup_with_a_changed_password_fails(dcs, redis_factory: RedisFactory, redis_version: str):
    password = random_secret(20)
    server = redis_factory.start(password=password, extra_args=backup_redis_args("yes", redis_version))
    instance_id = create_adopting_instance(dcs, unique_name("bk-auth"), server).instances[0].instance_id
    new_password = random_secret(20)
    server.command("CONFIG", "SET", "requirepass", new_password)
    server.password = new_password
    backup_id = copy_instance(dcs, instance_id)
    rec, _ = wait_for_backup(dcs, instance_id, backup_id, timeout=FAILURE_TIMEOUT_S)
    assert rec["status"] == "failed" and rec["error_code"] == "dcs.08.0001", rec


# =================================================================================================== validation


@pytest.fixture(scope="module")
def idle_instance(dcs, redis_factory: RedisFactory, redis_version: str) -> str:
    server = redis_factory.start(extra_args=backup_redis_args("yes", redis_version))
    return create_adopting_instance(dcs, unique_name("bk-valid"), server).instances[0].instance_id


@pytest.mark.parametrize("body, code", [
    (dict(remark="r" * 129), "DCS.4098"),
    (dict(remark="é" * 129, backup_format="rdb"), "DCS.4098"),
    (dict(remark="ok", backup_format="zip"), "DCS.4800"),
    (dict(backup_format=""), "DCS.4800"),
], ids=["remark-129", "remark-129-non-ascii", "zip", "empty-format"])
def test_copy_instance_validation(dcs, idle_instance, body, code):
    count = len(list_records(dcs, idle_instance))
    with pytest.raises(ClientRequestException) as excinfo:
        copy_instance(dcs, idle_instance, **body)
    exc = assert_sdk_error(excinfo.value, 400, code)
    if body.get("backup_format") == "zip":
        assert "rdb or aof" in exc.error_msg, exc.error_msg
    assert len(list_records(dcs, idle_instance)) == count, "a refused request leaves no record"
    assert show_raw(dcs, idle_instance)["task"] is None


def test_copy_instance_unknown_instance(dcs):
    with pytest.raises(ClientRequestException) as excinfo:
        copy_instance(dcs, str(uuid.uuid4()), remark="x")
    assert_sdk_error(excinfo.value, 404, "DCS.3022")


def test_copy_instance_malformed_body(coffer, idle_instance):
    path = f"/v2/{coffer.project_id}/instances/{idle_instance}/backups"
    resp = signed_request(coffer.url, "POST", path, ak=coffer.admin_access_key, sk=coffer.admin_secret_key,
                          project_id=coffer.project_id, body=["not", "an", "object"])
    assert resp.status_code == 400 and resp.json()["error_code"] == "DCS.4005", resp.text


def test_copy_instance_raw_response_and_longest_remark(coffer, dcs, idle_instance):
    remark = "r" * 128
    path = f"/v2/{coffer.project_id}/instances/{idle_instance}/backups"
    resp = signed_request(coffer.url, "POST", path, ak=coffer.admin_access_key, sk=coffer.admin_secret_key,
                          project_id=coffer.project_id, body={"remark": remark, "backup_format": "rdb"})
    assert resp.status_code == 200, resp.text
    assert resp.headers.get("X-Request-Id")
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"backup_id"} and str(uuid.UUID(body["backup_id"])) == body["backup_id"], body
    rec, _ = wait_for_backup(dcs, idle_instance, body["backup_id"])
    assert rec["status"] == "succeed" and rec["remark"] == remark, rec
    assert rec["size"] > 0  # an empty dataset is still a valid RDB file
