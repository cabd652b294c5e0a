"""The web console (/console) in a real browser: headless Chromium (Debian's chromium + chromium-driver) through
selenium, against the suite's Coffer server and a real redis-server.

* Sign in with account, user and password; a wrong password reads as one plain sentence and sets no cookie.
* Create a backup from the instance page and watch its row reach ``succeed`` without the page reloading
  (console.js polls ``/console/dcs/{id}/state``); the download button leads to the file.
* Restore it through a confirmation dialog that names the instance, its address and the backup's time; the
  restore record reaches ``succeed`` in the page and Redis holds the backup's data again.
* A POST carrying the session cookie but no CSRF token (or a wrong one) is refused with 403 and changes nothing.
* Signing out ends the session: the old cookie no longer opens the console.
* Another project's user sees none of our instances and gets 404 on our ids (page, state and action).
* A DDM instance over two real mariadbd nodes is listed with its state, and its backup job on the DDM jobs page;
  another project's user sees neither.

Screenshots go to ``$COFFER_CONSOLE_SCREENSHOTS`` (default ``tests/sdk/.screenshots``, not committed).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from huaweicloudsdkddm.v1 import (
    CreateDatabaseDetail,
    CreateDatabaseReq,
    CreateDatabaseRequest,
    CreateInstanceDetail,
    CreateInstanceReq,
    CreateInstanceRequest,
    DatabaseInstabcesParam,
)

from conftest import DOMAIN, REPO_ROOT, Coffer, RedisFactory, Tenant, create_adopting_instance, random_secret
from ddm_support import ADMIN_PASSWORD, ADMIN_USER, call, ddm_client, mariadb_nodes, wait_job  # noqa: F401  (fixture)
from test_dcs_backups import SLOW_DELAY_US, fill_slow

CONSOLE_USER = "console-user"
WAIT_S = 60


@pytest.fixture(scope="module")
def screenshots() -> Path:
    path = Path(os.environ.get("COFFER_CONSOLE_SCREENSHOTS", REPO_ROOT / "tests" / "sdk" / ".screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> WebDriver:
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("chromium and chromium-driver are not installed (scripts/install-deps installs them)", pytrace=False)
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1360,900",
                     "--disable-extensions", "--no-first-run", "--password-store=basic"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def console_user(coffer: Coffer) -> dict:
    """A user of the bootstrap project of its own, so the wrong-password test never locks a shared account."""
    password = "C0nsole-" + random_secret(16)
    user = coffer.admin("user", "create", CONSOLE_USER, "--password", password, "--project", coffer.project_id)
    return {"name": CONSOLE_USER, "password": password}


@pytest.fixture(scope="module")
def console_instance(dcs, redis_factory: RedisFactory, redis_version: str):
    """An instance with about 300 KiB of data, whose snapshot is slowed down so that a backup runs for a few seconds."""
    server = redis_factory.start(password=None, extra_args=["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"])
    fill_slow(server)
    name = "console-" + random_secret(6).lower()
    instance_id = create_adopting_instance(dcs, name, server).instances[0].instance_id
    return {"id": instance_id, "name": name, "server": server}


def wait_for(driver: WebDriver, what: str, condition: Callable[[WebDriver], object], timeout: float = WAIT_S):
    # console.js replaces the tables' rows on every poll, so an element found a moment ago may be gone: look again.
    return WebDriverWait(driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                         ).until(condition, message=f"timed out waiting for {what}")


def sign_in(driver: WebDriver, url: str, user: str, password: str) -> None:
    driver.get(url + "/console/login")
    driver.find_element(By.ID, "domain").send_keys(DOMAIN)
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()


def session_cookie(driver: WebDriver) -> dict:
    cookie = driver.get_cookie("coffer_console")
    assert cookie is not None, "no console cookie after signing in"
    return cookie


def row_status(driver: WebDriver, tbody: str, row_id: str) -> str:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{tbody} tr[data-id='{row_id}']")
    return rows[0].get_attribute("data-status") if rows else ""


def test_console_end_to_end(coffer: Coffer, browser: WebDriver, console_user: dict, console_instance: dict,
                            second_tenant: Tenant, screenshots: Path):
    url = coffer.url
    instance_id, name, server = console_instance["id"], console_instance["name"], console_instance["server"]

    # --- A wrong password: one plain sentence, 401, no cookie, no detail.
    sign_in(browser, url, console_user["name"], "not-the-password")
    error = wait_for(browser, "the login error", lambda d: d.find_element(By.ID, "login-error"))
    assert error.text == "The account name, user name or password is incorrect."
    assert browser.get_cookie("coffer_console") is None
    browser.save_screenshot(str(screenshots / "01-login-error.png"))
    unknown_user = requests.post(url + "/console/login", data={"domain": DOMAIN, "user": "nobody-here", "password": "x"},
                                 allow_redirects=False, timeout=10)
    assert unknown_user.status_code == 401 and "The account name, user name or password is incorrect." in unknown_user.text
    assert "set-cookie" not in unknown_user.headers

    # --- Sign in: the cookie is HttpOnly and SameSite=Strict, and the instances page lists our instance.
    sign_in(browser, url, console_user["name"], console_user["password"])
    wait_for(browser, "the instances page", lambda d: d.current_url.endswith("/console/instances"))
    cookie = session_cookie(browser)
    assert cookie["httpOnly"] is True and cookie.get("sameSite") == "Strict", cookie
    assert browser.find_element(By.ID, "user-name").text == CONSOLE_USER
    row = browser.find_element(By.CSS_SELECTOR, f"#dcs-instances tr[data-id='{instance_id}']")
    assert name in row.text and server.address in row.text
    browser.save_screenshot(str(screenshots / "02-instances.png"))

    # --- Create a backup and watch it reach `succeed` without a reload.
    browser.find_element(By.CSS_SELECTOR, f"#dcs-instances tr[data-id='{instance_id}'] a").click()
    wait_for(browser, "the instance page", lambda d: d.find_elements(By.ID, "create-backup"))
    server.command("CONFIG", "SET", "rdb-key-save-delay", str(SLOW_DELAY_US))
    try:
        browser.find_element(By.ID, "remark").send_keys("from the console")
        browser.find_element(By.ID, "create-backup-button").click()
        backup_row = wait_for(browser, "the new backup row",
                              lambda d: d.find_element(By.CSS_SELECTOR, "#backup-rows tr[data-id]"))
        backup_id = backup_row.get_attribute("data-id")
        browser.execute_script("window.__sameDocument = true;")
        wait_for(browser, "a running backup", lambda d: row_status(d, "backup-rows", backup_id) in ("waiting", "backuping", "succeed"))
        wait_for(browser, "progress above zero",
                 lambda d: row_status(d, "backup-rows", backup_id) == "succeed" or float(
                     d.find_element(By.CSS_SELECTOR, f"#backup-rows tr[data-id='{backup_id}'] progress").get_attribute("value")) > 0)
        browser.save_screenshot(str(screenshots / "03-backup-running.png"))
        wait_for(browser, "the backup to succeed", lambda d: row_status(d, "backup-rows", backup_id) == "succeed")
    finally:
        server.command("CONFIG", "SET", "rdb-key-save-delay", "0")
    assert browser.execute_script("return window.__sameDocument === true;"), "the page reloaded"
    wait_for(browser, "the instance's badge to leave BACKUPING",
             lambda d: d.find_element(By.ID, "instance-state").text.upper() == "RUNNING")
    done = browser.find_element(By.CSS_SELECTOR, f"#backup-rows tr[data-id='{backup_id}']")
    assert "100.00%" in done.text and "from the console" in done.text
    backup_time = done.find_element(By.CSS_SELECTOR, "td:nth-child(2)").text
    backup_name = done.find_element(By.CSS_SELECTOR, ".name").text
    browser.save_screenshot(str(screenshots / "04-backup-succeeded.png"))

    # --- CSRF: the session cookie alone cannot change anything.
    jar = {"coffer_console": cookie["value"]}
    csrf = browser.find_element(By.CSS_SELECTOR, "meta[name='csrf-token']").get_attribute("content")
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}):
        refused = requests.post(f"{url}/console/dcs/{instance_id}/backups", data=data, cookies=jar, allow_redirects=False, timeout=10)
        assert refused.status_code == 403, (data, refused.status_code)
    state = requests.get(f"{url}/console/dcs/{instance_id}/state", cookies=jar, timeout=10).json()
    assert [b["backup_id"] for b in state["backups"]] == [backup_id], "a refused POST created a backup"
    cross_site = requests.post(f"{url}/console/dcs/{instance_id}/backups", data={"csrf_token": csrf}, cookies=jar,
                               headers={"Origin": "http://evil.example"}, allow_redirects=False, timeout=10)
    assert cross_site.status_code == 403

    # --- Download: the button's POST answers a redirect to a signed link on Coffer; the file is an RDB.
    link = requests.post(f"{url}/console/dcs/{instance_id}/backups/{backup_id}/download", data={"csrf_token": csrf},
                         cookies=jar, allow_redirects=False, timeout=10)
    assert link.status_code == 303, link.text
    assert link.headers["location"].startswith(url + "/downloads/dcs/"), link.headers["location"]
    file = requests.get(link.headers["location"], timeout=30)
    assert file.status_code == 200 and file.content[:5] == b"REDIS"

    # --- Restore through the confirmation dialog, which names what will be overwritten.
    server.command("SET", "written-after-the-backup", "1")
    keys_at_backup = 300
    browser.find_element(By.CSS_SELECTOR, f"#backup-rows tr[data-id='{backup_id}'] [data-restore]").click()
    dialog = wait_for(browser, "the restore dialog", lambda d: d.find_element(By.ID, "restore-dialog"))
    wait_for(browser, "the dialog to open", lambda d: dialog.get_attribute("open") is not None)
    text = browser.find_element(By.ID, "restore-text").text
    assert name in text and server.address in text and backup_time in text and backup_name in text, text
    assert "overwrite" in dialog.text.lower()
    browser.save_screenshot(str(screenshots / "05-restore-dialog.png"))
    browser.find_element(By.ID, "restore-cancel").click()
    assert dialog.get_attribute("open") is None
    assert not browser.find_elements(By.CSS_SELECTOR, "#restore-rows tr[data-id]"), "cancel restored anyway"
    browser.find_element(By.CSS_SELECTOR, f"#backup-rows tr[data-id='{backup_id}'] [data-restore]").click()
    wait_for(browser, "the dialog to open again", lambda d: d.find_element(By.ID, "restore-dialog").get_attribute("open") is not None)
    browser.find_element(By.ID, "restore-confirm").click()
    restore_row = wait_for(browser, "the restore record", lambda d: d.find_element(By.CSS_SELECTOR, "#restore-rows tr[data-id]"))
    restore_id = restore_row.get_attribute("data-id")
    browser.execute_script("window.__sameDocument = true;")
    wait_for(browser, "the restore to succeed", lambda d: row_status(d, "restore-rows", restore_id) == "succeed")
    assert browser.execute_script("return window.__sameDocument === true;"), "the page reloaded"
    assert server.command("EXISTS", "written-after-the-backup") == 0
    assert server.command("DBSIZE") == keys_at_backup
    browser.save_screenshot(str(screenshots / "06-restore-succeeded.png"))

    # --- DDM jobs page renders for the project.
    browser.get(url + "/console/ddm/jobs")
    wait_for(browser, "the DDM jobs page", lambda d: d.find_elements(By.ID, "ddm-jobs"))
    browser.save_screenshot(str(screenshots / "07-ddm-jobs.png"))

    # --- Sign out: the old cookie no longer opens the console.
    browser.find_element(By.ID, "logout").click()
    wait_for(browser, "the login page", lambda d: d.current_url.endswith("/console/login"))
    assert browser.get_cookie("coffer_console") is None
    after = requests.get(url + "/console/instances", cookies=jar, allow_redirects=False, timeout=10)
    assert after.status_code == 303 and after.headers["location"] == "/console/login"
    assert requests.get(f"{url}/console/dcs/{instance_id}/state", cookies=jar, timeout=10).status_code == 401
    assert requests.post(f"{url}/console/dcs/{instance_id}/backups", data={"csrf_token": csrf}, cookies=jar,
                         allow_redirects=False, timeout=10).headers.get("location") == "/console/login"

    # --- Another project's user: none of our instances, 404 on our ids.
    sign_in(browser, url, second_tenant.user["name"], second_tenant.password)
    wait_for(browser, "the other project's instances page", lambda d: d.current_url.endswith("/console/instances"))
    page = browser.find_element(By.TAG_NAME, "main").text
    assert name not in page and instance_id not in page
    assert not browser.find_elements(By.CSS_SELECTOR, "#dcs-instances tr[data-id]")
    browser.save_screenshot(str(screenshots / "08-other-project.png"))
    browser.get(f"{url}/console/dcs/{instance_id}")
    assert "This DCS instance does not exist." in browser.find_element(By.ID, "error-message").text
    browser.save_screenshot(str(screenshots / "09-other-project-404.png"))
    other = {"coffer_console": session_cookie(browser)["value"]}
    other_csrf = browser.find_element(By.CSS_SELECTOR, "meta[name='csrf-token']").get_attribute("content")
    assert requests.get(f"{url}/console/dcs/{instance_id}", cookies=other, timeout=10).status_code == 404
    assert requests.get(f"{url}/console/dcs/{instance_id}/state", cookies=other, timeout=10).status_code == 404
    for path in (f"/console/dcs/{instance_id}/backups", f"/console/dcs/{instance_id}/backups/{backup_id}/restore",
                 f"/console/dcs/{instance_id}/backups/{backup_id}/download"):
        answer = requests.post(url + path, data={"csrf_token": other_csrf}, cookies=other, allow_redirects=False, timeout=10)
        assert answer.status_code == 404, (path, answer.status_code)
    browser.find_element(By.ID, "logout").click()
    wait_for(browser, "the login page", lambda d: d.current_url.endswith("/console/login"))


def test_console_ddm_instances_and_jobs(coffer: Coffer, browser: WebDriver, console_user: dict, mariadb_nodes,
                                         second_tenant: Tenant, screenshots: Path):
    p = coffer.project_id
    node_ids = []
    for i, node in enumerate(mariadb_nodes):
        r = call(coffer, "POST", f"/v3/{p}/data-nodes", {"name": f"console-dn-{i}", "private_ip": "127.0.0.1", "port": node.port})
        assert r.status_code == 201, r.text
        node_ids.append(r.json()["id"])
    ddm = ddm_client(coffer.url, coffer.admin_access_key, coffer.admin_secret_key, p)
    name = "console-ddm-" + random_secret(4).lower()
    created = ddm.create_instance(CreateInstanceRequest(body=CreateInstanceReq(instance=CreateInstanceDetail(
        name=name, flavor_id="ddm.c6.large.2", node_num=2, engine_id="engine", available_zones=["az1"],
        vpc_id="vpc", security_group_id="sg", subnet_id="subnet"))))
    used = [DatabaseInstabcesParam(id=n, admin_user=ADMIN_USER, admin_password=ADMIN_PASSWORD) for n in node_ids]
    ddm.create_database(CreateDatabaseRequest(instance_id=created.id, body=CreateDatabaseReq(databases=[
        CreateDatabaseDetail(name="consoledb", shard_mode="cluster", shard_number=2, used_rds=used)])))
    r = call(coffer, "POST", f"/v3/{p}/instances/{created.id}/backups", {"name": "console-ddm-backup", "description": "console"})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert wait_job(ddm, job_id).status == "Completed"

    sign_in(browser, coffer.url, console_user["name"], console_user["password"])
    wait_for(browser, "the instances page", lambda d: d.current_url.endswith("/console/instances"))
    row = browser.find_element(By.CSS_SELECTOR, f"#ddm-rows tr[data-id='{created.id}']")
    assert name in row.text and row.get_attribute("data-state") == "RUNNING", row.text
    browser.save_screenshot(str(screenshots / "10-ddm-instances.png"))
    browser.get(coffer.url + "/console/ddm/jobs")
    job = wait_for(browser, "the backup job's row", lambda d: d.find_element(By.CSS_SELECTOR, f"#ddm-jobs tr[data-id='{job_id}']"))
    # The badges show every status in lower case (CSS), whichever service's word it is.
    assert "createConsistentBackup" in job.text and "completed" in job.text.lower() and name in job.text, job.text
    browser.save_screenshot(str(screenshots / "11-ddm-jobs.png"))
    browser.find_element(By.ID, "logout").click()
    wait_for(browser, "the login page", lambda d: d.current_url.endswith("/console/login"))

    sign_in(browser, coffer.url, second_tenant.user["name"], second_tenant.password)
    wait_for(browser, "the other project's instances page", lambda d: d.current_url.endswith("/console/instances"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#ddm-rows tr[data-id]")
    browser.get(coffer.url + "/console/ddm/jobs")
    wait_for(browser, "the other project's DDM jobs page", lambda d: d.find_elements(By.ID, "ddm-jobs"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#ddm-jobs tr[data-id]")
    assert job_id not in browser.page_source
    browser.find_element(By.ID, "logout").click()
    wait_for(browser, "the login page", lambda d: d.current_url.endswith("/console/login"))
