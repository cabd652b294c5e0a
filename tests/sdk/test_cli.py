"""The ``coffer`` client commands, run as the BUILT binary ($COFFER_BIN) against the session's server.

Kept in the SDK suite so it reuses that suite's server, Redis fixtures and virtualenv (no second server start,
no second runner): login and the profile file, adopt, backup create --wait, list, download (a valid RDB),
restore --wait, errors (code shown, exit status), ``--json`` parsed, the progress bar under tmux, and the
backup metrics at ``/metrics``.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import shutil
import stat
import subprocess
import time
import uuid
from pathlib import Path
from typing import Optional

import pytest
import requests

from conftest import METRICS_TOKEN, Coffer, RedisFactory, RedisServer, free_port, stop_process, tail

CLI_TIMEOUT_S = 120
# Backups start at once (no diskless delay); DEBUG POPULATE makes datasets quickly.
REDIS_ARGS = ("--repl-diskless-sync-delay", "0", "--enable-debug-command", "local")


# --------------------------------------------------------------------------------------------------- helpers


class CLI:
    """Runs ``$COFFER_BIN`` with a profile of its own (never the user's ~/.config)."""

    def __init__(self, binary: str, profile: Path):
        self.binary = binary
        self.profile = profile

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
        env.update(COFFER_PROFILE=str(self.profile), HOME=str(self.profile.parent))
        env.update(extra)
        return env

    def run(self, *args: str, ok: bool = True, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        result = subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                                stdin=subprocess.DEVNULL, env=env or self.env())
        if ok and result.returncode != 0:
            pytest.fail(f"coffer {' '.join(args)} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def json(self, *args: str) -> dict:
        out = self.run(*args, "--json").stdout
        try:
            return json.loads(out)
        except ValueError:
            pytest.fail(f"coffer {' '.join(args)} --json printed no JSON: {out!r}")


def metrics(coffer: Coffer) -> str:
    response = requests.get(f"{coffer.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert response.status_code == 200
    return response.text


def sample(text: str, name: str, **labels: str) -> Optional[float]:
    """The value of the series ``name`` whose labels include ``labels`` (None when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.rindex("}")]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def populate(server: RedisServer, keys: int) -> None:
    assert server.command("DEBUG", "POPULATE", str(keys), "key", "100") == "OK"
    assert server.command("DBSIZE") == keys


def adopt(cli: CLI, server: RedisServer, name: str) -> str:
    url = f"redis://:{server.password}@{server.address}" if server.password else f"redis://{server.address}"
    answer = cli.json("instance", "adopt", url, "--name", name)
    return answer["instances"][0]["instance_id"]


# --------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cli(coffer: Coffer, tmp_path_factory: pytest.TempPathFactory) -> CLI:
    home = tmp_path_factory.mktemp("cli-home")
    client = CLI(coffer.binary, home / "config" / "coffer" / "profile.json")
    out = client.run("login", "--bootstrap", str(coffer.data_dir / "bootstrap.json")).stdout
    assert coffer.admin_secret_key not in out, "login printed the secret key"
    return client


@pytest.fixture(scope="module")
def adopted(cli: CLI, redis_factory: RedisFactory) -> tuple[RedisServer, str]:
    server = redis_factory.start(password="cli-" + uuid.uuid4().hex[:12], extra_args=REDIS_ARGS)
    populate(server, 20_000)
    return server, adopt(cli, server, "cli-main")


@pytest.fixture(scope="module")
def backed_up(cli: CLI, adopted) -> dict:
    server, instance_id = adopted
    result = cli.run("backup", "create", instance_id, "--wait")
    assert "succeed" in result.stdout, result.stdout
    records = cli.json("backup", "list", instance_id)["backup_record_response"]
    assert records and records[0]["status"] == "succeed", records
    return records[0]


# --------------------------------------------------------------------------------------------------- login


def test_login_profile_is_private_and_masks_the_secret(coffer: Coffer, cli: CLI):
    mode = stat.S_IMODE(cli.profile.stat().st_mode)
    assert mode == 0o600, oct(mode)
    saved = json.loads(cli.profile.read_text())
    assert saved == {"endpoint": coffer.bootstrap["endpoint"], "access_key": coffer.admin_access_key,
                     "secret_key": coffer.admin_secret_key, "project_id": coffer.project_id}


def test_login_from_environment_and_flags(coffer: Coffer, cli: CLI, tmp_path: Path):
    profile = tmp_path / "env" / "p.json"
    env = cli.env(COFFER_ENDPOINT=coffer.url, COFFER_AK=coffer.admin_access_key, COFFER_SK=coffer.admin_secret_key,
                  COFFER_PROJECT=coffer.project_id, COFFER_PROFILE=str(profile))
    result = cli.run("login", env=env)
    assert coffer.admin_secret_key not in result.stdout + result.stderr
    assert coffer.admin_secret_key[:4] + "********" in result.stdout
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    # --profile wins over COFFER_PROFILE; the endpoint flag over the environment.
    other = tmp_path / "flag.json"
    cli.run("login", "--profile", str(other), "--endpoint", coffer.url, env=env)
    assert json.loads(other.read_text())["endpoint"] == coffer.url


def test_login_with_a_wrong_secret_fails_and_writes_nothing(coffer: Coffer, cli: CLI, fresh_credential, tmp_path: Path):
    profile = tmp_path / "bad.json"
    result = cli.run("login", "--profile", str(profile), "--endpoint", coffer.url, "--access-key", fresh_credential["access"],
                     "--project", coffer.project_id, ok=False,
                     env=cli.env(COFFER_SK="wrong-" + fresh_credential["secret"]))
    assert result.returncode != 0
    assert "APIGW.0301" in result.stderr, result.stderr
    assert not profile.exists()


# --------------------------------------------------------------------------------------------------- the DCS path


def test_instance_list_table_and_json(cli: CLI, adopted):
    _, instance_id = adopted
    table = cli.run("instance", "list").stdout.splitlines()
    assert table[0].split() == ["KIND", "ID", "NAME", "STATUS", "ADDRESS", "TASK"]
    row = next(line for line in table if instance_id in line)
    assert row.split()[:4] == ["dcs", instance_id, "cli-main", "RUNNING"]
    assert all(line == line.rstrip() for line in table)
    listed = cli.json("instance", "list")
    assert instance_id in [i["instance_id"] for i in listed["dcs"]["instances"]]
    assert "data_nodes" in listed and "ddm" in listed


def test_backup_list_shows_the_backup(cli: CLI, adopted, backed_up):
    _, instance_id = adopted
    out = cli.run("backup", "list", instance_id).stdout
    assert out.splitlines()[0].split()[:3] == ["BACKUP", "NAME", "STATUS"]
    assert backed_up["backup_id"] in out and "succeed" in out


def test_download_is_a_valid_rdb_of_the_recorded_size(cli: CLI, backed_up, tmp_path: Path):
    target = tmp_path / "dump.rdb"
    result = cli.run("backup", "download", backed_up["backup_id"], "-o", str(target))
    assert "size checked" in result.stdout
    assert target.stat().st_size == backed_up["size"] > 0
    assert not (tmp_path / "dump.rdb.part").exists()
    checker = shutil.which("redis-check-rdb")
    assert checker, "redis-check-rdb is not on PATH (Debian: redis-tools)"
    check = subprocess.run([checker, str(target)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "RDB looks OK" in check.stdout, check.stdout + check.stderr
    # --json: what was written, parsed.
    again = tmp_path / "again.rdb"
    answer = cli.json("backup", "download", backed_up["backup_id"], "-o", str(again))
    assert answer == {"backup_id": backed_up["backup_id"], "file": str(again), "size": backed_up["size"]}


def test_restore_wait_puts_the_data_back(cli: CLI, adopted, backed_up):
    server, _ = adopted
    server.command("FLUSHALL")
    server.command("SET", "only-after-the-backup", "x")
    result = cli.run("restore", backed_up["backup_id"], "--wait")
    assert "succeed" in result.stdout, result.stdout
    assert server.command("DBSIZE") == 20_000
    assert server.command("EXISTS", "only-after-the-backup") == 0


def test_restore_into_another_instance(cli: CLI, backed_up, redis_factory: RedisFactory):
    other = redis_factory.start(password=None, extra_args=REDIS_ARGS)
    other_id = adopt(cli, other, "cli-restore-target")
    task = cli.json("restore", backed_up["backup_id"], "--into", other_id, "--wait")
    assert task["status"] == "SUCCESS", task
    assert other.command("DBSIZE") == 20_000


def test_unknown_instance_is_one_line_with_the_code(cli: CLI):
    result = cli.run("backup", "create", str(uuid.uuid4()), "--wait", ok=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "DCS.3022" in lines[0] and "HTTP 404" in lines[0], result.stderr
    missing = cli.run("backup", "download", str(uuid.uuid4()), ok=False)
    assert missing.returncode != 0 and "no backup" in missing.stderr


def test_no_profile_says_so(coffer: Coffer, tmp_path: Path):
    client = CLI(coffer.binary, tmp_path / "none.json")
    result = client.run("instance", "list", ok=False)
    assert result.returncode != 0 and "coffer login" in result.stderr


def test_help_lists_every_command(coffer: Coffer):
    out = subprocess.run([coffer.binary, "--help"], capture_output=True, text=True, timeout=30).stdout
    for command in ("serve", "admin", "login", "instance", "backup", "restore", "ddm"):
        assert re.search(rf"^\s+{command}\b", out, re.M), f"{command} missing from --help:\n{out}"


# --------------------------------------------------------------------------------------------------- progress


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/install-deps installs it)")
def test_progress_bar_in_a_terminal(cli: CLI, redis_factory: RedisFactory, tmp_path: Path):
    server = redis_factory.start(password=None, extra_args=REDIS_ARGS)
    populate(server, 300_000)
    instance_id = adopt(cli, server, "cli-progress")
    socket_name = f"coffer-cli-test-{uuid.uuid4().hex[:8]}"  # our own tmux server, never the user's
    done = tmp_path / "exit-code"
    command = (f"env COFFER_PROFILE={cli.profile} {cli.binary} backup create {instance_id} --wait; "
               f"echo $? > {done}; sleep 60")
    subprocess.run(["tmux", "-L", socket_name, "new-session", "-d", "-s", "cli", "-x", "160", "-y", "8", command],
                   check=True, timeout=10)
    frames: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while not done.exists() and time.monotonic() < deadline:
            frame = subprocess.run(["tmux", "-L", socket_name, "capture-pane", "-p", "-t", "cli"],
                                   capture_output=True, text=True, timeout=10).stdout
            frames.append(frame)
            time.sleep(0.2)
        assert done.exists(), "backup create --wait did not end within 90 s"
        frames.append(subprocess.run(["tmux", "-L", socket_name, "capture-pane", "-p", "-t", "cli"],
                                     capture_output=True, text=True, timeout=10).stdout)
    finally:
        subprocess.run(["tmux", "-L", socket_name, "kill-server"], timeout=10)
        (tmp_path / "frames.txt").write_text("\n----\n".join(frames))
    assert done.read_text().strip() == "0"
    # The ETA needs two progress reports (the job writes about one a second): a short backup may end before the
    # first estimate, so "--:--" is a valid frame too; the bar must have filled.
    bar = re.compile(r"backup \w{8}\s+\[[#-]{24}\]\s+\w+\s+\d+\.\d%.*ETA (\d+:\d\d|--:--)")
    moving = [f for f in frames if bar.search(f) and re.search(r"\[#+-*\]", f)]
    assert moving, "no frame showed a filled progress bar with an ETA:\n" + "\n----\n".join(frames[-5:])
    # A first backup has no estimate of its size; a second one shows bytes estimated from the first.
    subprocess.run(["tmux", "-L", socket_name, "new-session", "-d", "-s", "cli2", "-x", "160", "-y", "8",
                    command.replace(str(done), str(done) + "-2")], check=True, timeout=10)
    second: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while not Path(str(done) + "-2").exists() and time.monotonic() < deadline:
            second.append(subprocess.run(["tmux", "-L", socket_name, "capture-pane", "-p", "-t", "cli2"],
                                         capture_output=True, text=True, timeout=10).stdout)
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "-L", socket_name, "kill-server"], timeout=10)
        (tmp_path / "frames-2.txt").write_text("\n----\n".join(second))
    assert Path(str(done) + "-2").read_text().strip() == "0"
    # Bytes estimated from the first backup's size; the rate appears from the second progress report on.
    estimated = re.compile(r"\[[#-]{24}\].*~[\d.]+ (B|KiB|MiB)/[\d.]+ (B|KiB|MiB)(\s+~[\d.]+ (B|KiB|MiB)/s)?\s+ETA (\d+:\d\d|--:--)")
    assert any(estimated.search(f) for f in second), "no frame showed estimated bytes and rate:\n" + "\n----\n".join(second[-5:])
    final = frames[-1]
    assert re.search(r"succeed, \d", final), final
    # Redrawn in place: the bar never piles up one line per update.
    assert max(f.count("ETA") for f in frames) == 1


def test_plain_progress_lines_when_not_a_terminal(cli: CLI, adopted):
    _, instance_id = adopted
    out = cli.run("backup", "create", instance_id, "--wait").stdout
    assert "\r" not in out and "\x1b[" not in out
    assert re.search(r"^backup \w{8}  \w+ .*ETA", out, re.M), out


# --------------------------------------------------------------------------------------------------- metrics


def test_metrics_age_resets_after_a_backup(coffer: Coffer, cli: CLI, redis_factory: RedisFactory):
    server = redis_factory.start(password=None, extra_args=REDIS_ARGS)
    populate(server, 1_000)
    instance_id = adopt(cli, server, "cli-metrics-age")
    before = metrics(coffer)
    # No backup yet: the age counts from the adoption, and no timestamp series exists.
    assert sample(before, "coffer_backup_last_success_age_seconds", service="dcs", instance_id=instance_id) is not None
    assert sample(before, "coffer_backup_last_success_timestamp_seconds", instance_id=instance_id) is None
    assert sample(before, "coffer_job_queue_depth", kind="dcs.backup", state="queued") is not None

    cli.run("backup", "create", instance_id, "--wait")
    first = cli.json("backup", "list", instance_id)["backup_record_response"][0]
    time.sleep(1.5)
    cli.run("backup", "create", instance_id, "--wait")
    second = cli.json("backup", "list", instance_id)["backup_record_response"][0]
    assert second["backup_id"] != first["backup_id"]
    after = metrics(coffer)
    stamp = sample(after, "coffer_backup_last_success_timestamp_seconds", service="dcs", instance_id=instance_id)
    age = sample(after, "coffer_backup_last_success_age_seconds", service="dcs", instance_id=instance_id)
    def created(record: dict) -> float:
        whole = calendar.timegm(time.strptime(record["created_at"][:19], "%Y-%m-%dT%H:%M:%S"))
        return whole + int(record["created_at"][20:23]) / 1000

    assert stamp is not None and abs(stamp - created(second)) < 0.01, (stamp, second)
    assert age is not None and age < time.time() - created(first), "the age did not reset to the newer backup"
    assert sample(after, "coffer_backup_bytes_total", service="dcs", instance_id=instance_id) == first["size"] + second["size"]
    assert sample(after, "coffer_backup_duration_seconds_count", service="dcs", instance_id=instance_id, outcome="succeeded") == 2
    assert instance_id in after and "cli-metrics-age" not in after, "labels must carry ids, never names"


def test_metrics_failure_counter_grows_with_its_code(coffer: Coffer, cli: CLI, redis_factory: RedisFactory):
    server = redis_factory.start(password=None, extra_args=REDIS_ARGS)
    instance_id = adopt(cli, server, "cli-metrics-fail")
    labels = dict(service="dcs", operation="backup", instance_id=instance_id, code="dcs.08.0001")
    assert sample(metrics(coffer), "coffer_job_failures_total", **labels) is None
    stop_process(server.proc)
    result = cli.run("backup", "create", instance_id, "--wait", ok=False)
    assert result.returncode != 0 and "dcs.08.0001" in result.stderr, result.stdout + result.stderr
    assert sample(metrics(coffer), "coffer_job_failures_total", **labels) == 1
    cli.run("backup", "create", instance_id, "--wait", ok=False)
    assert sample(metrics(coffer), "coffer_job_failures_total", **labels) == 2


def start_server(binary: str, data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """A coffer server of this test's own on a free port (the session's server cannot be restarted)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    env.update(COFFER_ADMIN_PASSWORD="Adm1n-" + uuid.uuid4().hex[:16], COFFER_METRICS_TOKEN=METRICS_TOKEN)
    with open(log, "ab") as out:
        proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, f"coffer serve exited with {proc.returncode}:\n{tail(log)}"
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"coffer /health did not answer within 30 s:\n{tail(log)}"
        time.sleep(0.1)


def test_metrics_age_is_right_after_a_restart(coffer: Coffer, redis_factory: RedisFactory, tmp_path: Path):
    """The age gauge comes from the store: a restarted server (a new process, nothing in memory) reports the
    backup taken before the restart, and no event counters (those are per process)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    log = tmp_path / "coffer.log"
    server = redis_factory.start(password=None, extra_args=REDIS_ARGS)
    proc, url = start_server(coffer.binary, data_dir, log)
    try:
        client = CLI(coffer.binary, tmp_path / "profile.json")
        # The bootstrap names the endpoint the server was configured with; this server's URL is the one to use.
        client.run("login", "--bootstrap", str(data_dir / "bootstrap.json"), "--endpoint", url)
        instance_id = adopt(client, server, "cli-restart")
        client.run("backup", "create", instance_id, "--wait")
        record = client.json("backup", "list", instance_id)["backup_record_response"][0]
    finally:
        stop_process(proc)
    proc, url = start_server(coffer.binary, data_dir, log)
    try:
        text = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text
    finally:
        stop_process(proc)
    stamp = sample(text, "coffer_backup_last_success_timestamp_seconds", service="dcs", instance_id=instance_id)
    whole = calendar.timegm(time.strptime(record["created_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert stamp is not None and abs(stamp - (whole + int(record["created_at"][20:23]) / 1000)) < 0.01, (stamp, record)
    age = sample(text, "coffer_backup_last_success_age_seconds", service="dcs", instance_id=instance_id)
    assert age is not None and 0 <= age < 120
    assert sample(text, "coffer_backup_bytes_total", instance_id=instance_id) is None


def test_shipped_rules_and_dashboard_name_real_metrics(coffer: Coffer, cli: CLI, backed_up, redis_factory: RedisFactory):
    """Every coffer_* metric the alert rules and the Grafana dashboard query is one /metrics exposes, once a
    backup, a restore and a failure have happened (made here, so the test stands alone)."""
    cli.run("restore", backed_up["backup_id"], "--wait")
    stopped = redis_factory.start(password=None, extra_args=REDIS_ARGS)
    stopped_id = adopt(cli, stopped, "cli-rules-fail")
    stop_process(stopped.proc)
    cli.run("backup", "create", stopped_id, "--wait", ok=False)
    text = metrics(coffer)
    exposed = {re.sub(r"_(bucket|sum|count)$", "", line.split("{")[0].split(" ")[0])
               for line in text.splitlines() if line.startswith("coffer_")}
    for path in (Path(__file__).resolve().parents[2] / "docs" / "alerts" / "coffer-rules.yml",
                 Path(__file__).resolve().parents[2] / "docs" / "grafana" / "coffer-dashboard.json"):
        names = {re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"\bcoffer_[a-z_]+", path.read_text())}
        names.discard("coffer_backups")  # the dashboard's uid
        missing = names - exposed
        assert not missing, f"{path.name} queries metrics /metrics does not expose: {missing}"
    assert "26 * 3600" in (Path(__file__).resolve().parents[2] / "docs" / "alerts" / "coffer-rules.yml").read_text()
