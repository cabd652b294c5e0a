"""Bad-input campaign: schemathesis against the served OpenAPI document, on a real `coffer serve`.

    COFFER_BIN=/path/to/coffer python tests/fuzz/campaign.py [--max-examples N] [--seed S]

Starts, all on loopback and on free ports: a redis-server, Coffer (fresh data directory, first-start
account from COFFER_ADMIN_* variables, as tests/sdk does). Seeds real resources through the API so that
generated cases reach past the id checks: two DCS instances adopting the Redis (one kept, one for the
delete operation), a finished DCS backup and its download link, two DDM instances, a DDM backup and a DDM
job; the token is also the X-Subject-Token to validate. Then runs
schemathesis on /openapi.yaml with an IAM token in X-Auth-Token, a fixed seed and a bounded number of
examples per operation, with the checks: no 5xx, status codes, content types and bodies as declared.
At the end /health must still answer 200 and the process must still run.

Exit status: schemathesis's (non-zero on any failure), or 1 when the server died or stopped answering.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qsl, unquote, urlparse

import requests

HERE = Path(__file__).resolve().parent
REGION = "local-1"
READY_TIMEOUT_S = 30.0
#: A well-formed project id that is not the caller's: every authenticated route must answer its declared 401.
FOREIGN_PROJECT = "f" * 32


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_secret(length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def stop(proc: subprocess.Popen) -> Optional[int]:
    """SIGTERM, then SIGKILL after 10 s; only ever the process this script started."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)


def tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_bytes()[-limit:].decode("utf-8", "replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


def wait_until(what: str, check, timeout: float = READY_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, requests.RequestException):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"campaign: {what} not ready within {timeout:.0f} s")
        time.sleep(0.1)


class Api:
    """Token-authenticated JSON calls to the Coffer under test."""

    def __init__(self, url: str, project_id: str, token: str):
        self.url = url
        self.project_id = project_id
        self.headers = {"X-Auth-Token": token, "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> dict:
        response = requests.request(method, self.url + path.format(p=self.project_id), headers=self.headers,
                                    data=None if body is None else json.dumps(body), timeout=30)
        if response.status_code != expect:
            raise SystemExit(f"campaign: seeding {method} {path} answered {response.status_code}: {response.text}")
        return response.json() if response.content else {}


def seed(api: Api, redis_port: int) -> dict[str, str]:
    """Real ids for path parameters, so generated cases reach the handlers' logic."""
    def adopt(name: str) -> str:
        created = api.call("POST", "/v2/{p}/instances", {
            "name": name, "engine": "Redis", "engine_version": "7.0", "capacity": 1, "private_ip": "127.0.0.1",
            "port": redis_port, "no_password_access": True})
        return created["instances"][0]["instance_id"]

    dcs_instance, dcs_doomed = adopt("fuzz-kept"), adopt("fuzz-doomed")
    dcs_backup = api.call("POST", f"/v2/{{p}}/instances/{dcs_instance}/backups", {"remark": "seed"})["backup_id"]

    def dcs_backup_done() -> bool:
        records = api.call("GET", f"/v2/{{p}}/instances/{dcs_instance}/backups")["backup_record_response"]
        status = next(r["status"] for r in records if r["backup_id"] == dcs_backup)
        if status == "failed":
            raise SystemExit(f"campaign: the seed DCS backup failed: {records}")
        return status == "succeed"

    wait_until("the seed DCS backup", dcs_backup_done)
    links = api.call("POST", f"/v2/{{p}}/instances/{dcs_instance}/backups/{dcs_backup}/links", {"expiration": 86400})
    link = urlparse(links["links"][0]["link"])
    _, _, _, link_project, link_instance, link_backup, link_file = link.path.split("/")
    link_query = dict(parse_qsl(link.query))

    def ddm(name: str) -> dict:
        return api.call("POST", "/v1/{p}/instances", {"instance": {
            "name": name, "flavor_id": "ddm.c6.large.2", "node_num": 1, "engine_id": "e1", "available_zones": ["az1"],
            "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}})

    ddm_instance, ddm_doomed = ddm("fuzz-ddm-kept"), ddm("fuzz-ddm-doomed")
    ddm_backup = api.call("POST", f"/v3/{{p}}/instances/{ddm_instance['id']}/backups", {"name": "seed"}, expect=202)

    def ddm_job_done() -> bool:
        job = api.call("GET", f"/v3/{{p}}/jobs/{ddm_backup['job_id']}")["job"]
        if job["status"] == "Failed":
            raise SystemExit(f"campaign: the seed DDM backup failed: {job}")
        return job["status"] == "Completed"

    wait_until("the seed DDM backup", ddm_job_done)
    return {
        "dcs_instance": dcs_instance, "dcs_doomed": dcs_doomed, "dcs_backup": dcs_backup,
        "ddm_instance": ddm_instance["id"], "ddm_doomed": ddm_doomed["id"], "ddm_backup": ddm_backup["backup_id"],
        "ddm_job": ddm_instance["job_id"],
        "link_project": link_project, "link_instance": link_instance, "link_backup": link_backup,
        "link_file": unquote(link_file), "link_expires": link_query["Expires"], "link_signature": link_query["Signature"],
    }


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid TOML basic string for these values


def write_config(path: Path, *, url: str, token: str, project_id: str, seeds: dict[str, str], max_examples: int,
                 seed_value: int, report_dir: Path) -> None:
    """The schemathesis configuration: checks, bounds, determinism, and real ids as path parameters.

    `project_id` is the caller's project in half the cases, a well-formed foreign one (401) in an eighth (dictionary
    binding); the rest keep the generated value, so malformed project ids (400) are exercised too."""
    ids = {
        "instances": [seeds["dcs_instance"]],
        "backups": [seeds["dcs_backup"]],
        "ddm_instances": [seeds["ddm_instance"]],
        "ddm_backups": [seeds["ddm_backup"]],
        "jobs": [seeds["ddm_job"]],
    }

    def dictionary(name: str, values: list[str]) -> str:
        return f"[dictionaries.{name}]\nvalues = [{', '.join(toml_string(v) for v in values)}]\n"

    def binding(key: str, name: str, probability: float) -> str:
        return f"{toml_string(key)} = {{ dictionary = {toml_string(name)}, probability = {probability} }}\n"

    dcs_ops = "^(showInstance|updateInstance|copyInstance|listBackupRecords|deleteBackupFile|listBackupFileLinks)$"
    ddm_ops = ("^(showDdmInstance|createDdmSchemas|listDdmSchemas|listAvailableRdsList|listAvailableDataNodes|"
               "createDdmBackup|showBackup|showRelatedDns)$")
    text = f"""# Generated by tests/fuzz/campaign.py for one run.
base-url = {toml_string(url)}
seed = {seed_value}
workers = 1
hooks = {toml_string(str(HERE / "hooks.py"))}
request-timeout = 30
continue-on-failure = true

[headers]
X-Auth-Token = {toml_string(token)}

[reports]
directory = {toml_string(str(report_dir))}

[generation]
max-examples = {max_examples}
deterministic = true
database = "none"

[phases.examples]
enabled = true
[phases.coverage]
enabled = true
[phases.fuzzing]
enabled = true
[phases.stateful]
enabled = false

[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_schema_conformance.enabled = true

{dictionary("projects", [project_id, project_id, FOREIGN_PROJECT])}
{dictionary("instances", ids["instances"])}
{dictionary("doomed_instances", [seeds["dcs_doomed"]])}
{dictionary("backups", ids["backups"])}
{dictionary("ddm_instances", ids["ddm_instances"])}
{dictionary("doomed_ddm_instances", [seeds["ddm_doomed"]])}
{dictionary("ddm_backups", ids["ddm_backups"])}
{dictionary("jobs", ids["jobs"])}
{dictionary("tokens", [token])}
{dictionary("link_project", [seeds["link_project"]])}
{dictionary("link_instance", [seeds["link_instance"]])}
{dictionary("link_backup", [seeds["link_backup"]])}
{dictionary("link_file", [seeds["link_file"]])}
[dictionaries.link_expires]
values = [{int(seeds["link_expires"])}]
{dictionary("link_signature", [seeds["link_signature"]])}
[parameters]
{binding("path.project_id", "projects", 0.75)}
[[operations]]
include-operation-id-regex = {toml_string(dcs_ops)}
[operations.parameters]
{binding("path.instance_id", "instances", 0.75)}{binding("path.backup_id", "backups", 0.75)}
[[operations]]
include-operation-id = "deleteSingleInstance"
[operations.parameters]
{binding("path.instance_id", "doomed_instances", 0.75)}
[[operations]]
include-operation-id-regex = {toml_string(ddm_ops)}
[operations.parameters]
{binding("path.instance_id", "ddm_instances", 0.75)}{binding("path.backup_id", "ddm_backups", 0.75)}
[[operations]]
include-operation-id = "deleteDdmInstance"
[operations.parameters]
{binding("path.instance_id", "doomed_ddm_instances", 0.75)}
[[operations]]
include-operation-id-regex = "^(showBackupAlias|deleteBackup)$"
[operations.parameters]
{binding("path.backup_id", "ddm_backups", 0.75)}
[[operations]]
include-operation-id = "keystoneValidateToken"
[operations.parameters]
{binding("header.X-Subject-Token", "tokens", 0.75)}
[[operations]]
include-operation-id = "downloadBackupFile"
[operations.parameters]
{binding("path.project_id", "link_project", 0.9)}{binding("path.instance_id", "link_instance", 0.9)}{binding("path.backup_id", "link_backup", 0.9)}{binding("path.file_name", "link_file", 0.9)}{binding("query.Expires", "link_expires", 0.9)}{binding("query.Signature", "link_signature", 0.9)}
[[operations]]
include-operation-id = "showDdmJobResult"
[operations.parameters]
{binding("path.job_id", "jobs", 0.75)}
"""
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("COFFER_FUZZ_MAX_EXAMPLES", "15")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("COFFER_FUZZ_SEED", "7")))
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, config, reports)")
    parser.add_argument("schemathesis_args", nargs="*", help="extra arguments for `schemathesis run`")
    args = parser.parse_args()

    binary = os.environ.get("COFFER_BIN")
    if not binary or not os.access(binary, os.X_OK):
        print("campaign: COFFER_BIN must point at a built coffer binary", file=sys.stderr)
        return 2
    redis_bin = shutil.which("redis-server")
    if not redis_bin:
        print("campaign: redis-server is not on PATH", file=sys.stderr)
        return 2
    schemathesis_bin = Path(sys.executable).parent / "schemathesis"

    work = Path(tempfile.mkdtemp(prefix="coffer-fuzz-"))
    processes: list[subprocess.Popen] = []
    started = time.monotonic()
    try:
        redis_port = free_port()
        (work / "redis").mkdir()
        with open(work / "redis.log", "wb") as out:
            processes.append(subprocess.Popen(
                [redis_bin, "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(work / "redis"), "--save", "",
                 "--appendonly", "no", "--protected-mode", "no", "--repl-diskless-sync-delay", "0"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        wait_until("redis-server", lambda: socket.create_connection(("127.0.0.1", redis_port), timeout=1).close() or True)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        password = "Adm1n-" + random_secret(16)
        env = dict(os.environ, COFFER_ADMIN_PASSWORD=password,
                   COFFER_ADMIN_ACCESS_KEY="CFR" + random_secret(17, string.ascii_uppercase + string.digits),
                   COFFER_ADMIN_SECRET_KEY=random_secret(40))
        (work / "data").mkdir()
        log = work / "coffer.log"
        with open(log, "wb") as out:
            coffer = subprocess.Popen(
                [binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(work / "data"),
                 "--region", REGION], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        processes.append(coffer)
        wait_until("coffer /health", lambda: requests.get(url + "/health", timeout=2).status_code == 200)
        bootstrap = json.loads((work / "data" / "bootstrap.json").read_text())
        login = requests.post(url + "/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"domain": {"name": "coffer"}, "name": "admin", "password": password}}}}}, timeout=30)
        if login.status_code != 201:
            print(f"campaign: login answered {login.status_code}: {login.text}", file=sys.stderr)
            return 1
        token = login.headers["X-Subject-Token"]
        api = Api(url, bootstrap["project_id"], token)
        seeds = seed(api, redis_port)
        print(f"campaign: seeded {json.dumps(seeds)} in {time.monotonic() - started:.1f} s", flush=True)

        config = work / "schemathesis.toml"
        write_config(config, url=url, token=token, project_id=bootstrap["project_id"], seeds=seeds,
                     max_examples=args.max_examples, seed_value=args.seed, report_dir=work / "reports")
        closed_port = free_port()  # nothing listens there: data-node handshakes fail at once
        command = [str(schemathesis_bin), "--config-file", str(config), "run", "--no-color",
                   *args.schemathesis_args, url + "/openapi.yaml"]
        print("campaign: " + " ".join(command), flush=True)
        run_started = time.monotonic()
        result = subprocess.run(command, env=dict(os.environ, COFFER_FUZZ_REDIS_PORT=str(redis_port),
                                                  COFFER_FUZZ_CLOSED_PORT=str(closed_port)), stdin=subprocess.DEVNULL,
                                cwd=work)  # schemathesis keeps its .schemathesis/ cache in the working directory
        print(f"campaign: schemathesis exited {result.returncode} after {time.monotonic() - run_started:.1f} s",
              flush=True)

        alive = coffer.poll() is None
        healthy = False
        if alive:
            try:
                healthy = requests.get(url + "/health", timeout=5).status_code == 200
            except requests.RequestException:
                healthy = False
        if not (alive and healthy):
            print(f"campaign: FAILED: the server {'stopped answering' if alive else 'died'} during the run "
                  f"(exit {coffer.returncode}); log tail:\n{tail(log)}", file=sys.stderr)
            return 1
        print(f"campaign: the server survived; /health 200; total {time.monotonic() - started:.1f} s", flush=True)
        return result.returncode
    finally:
        for proc in reversed(processes):
            stop(proc)
        if args.keep:
            print(f"campaign: work directory kept at {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
