"""PostgreSQL restarted under load: gunicorn carries on without a restart.

A private PostgreSQL server (the shared one serves the rest of the suite) holds
a migrated database with enrolled patients. gunicorn serves it while browsers
keep opening and answering the first questionnaire page; the server is then
restarted with ``pg_ctl restart -m fast``, which ends every session. Requests
caught by the restart must fail cleanly (503, quickly), and every request begun
after it must succeed: with ``CONN_HEALTH_CHECKS`` each worker thread notices
its dead connection before using it, instead of failing one patient first.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.integration.databases import ROOT, PrivatePostgreSQL, run_manage
from tests.integration.mail_and_worker import free_port, wait_until
from tests.questionnaire.conftest import complete_answers
from tests.services import require_env_url

pytestmark = pytest.mark.integration

PATIENTS = 6
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SEED = f"""
import json
from participants import links
from studyportal import demo
from tests.questionnaire.conftest import enrol_participant

study = demo.seed_reference_study()
tokens = [
    links.issue_token(
        enrol_participant(study, name=f"Pat{{n}} Example").visits.get(
            timepoint__code="baseline"
        )
    )
    for n in range({PATIENTS})
]
print(json.dumps(tokens))
"""


@dataclass(frozen=True)
class Outcome:
    began: float
    ended: float
    what: str
    status: int  # 0 when no HTTP answer came


class Browser:
    """One patient's browser, answering page 1 again and again."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.cookies: dict[str, str] = {}
        self.outcomes: list[Outcome] = []

    def _request(self, what: str, method: str, path: str, form=None) -> str:
        headers = {"Host": "127.0.0.1"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        began = time.monotonic()
        status, text = 0, ""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            status, text = response.status, response.read().decode()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, val = value.split(";", 1)[0].partition("=")
                    self.cookies[key.strip()] = val.strip()
            conn.close()
        finally:
            self.outcomes.append(Outcome(began, time.monotonic(), what, status))
        return text

    def keep_answering(self, stop: threading.Event) -> None:
        path = f"/q/{self.token}/1/"
        answers = complete_answers()[1]
        while not stop.is_set():
            page = self._request("page GET", "GET", path)
            if self.outcomes[-1].status == 200:
                csrf = CSRF_FIELD.search(page)
                form = {**answers, "go": "next", "csrfmiddlewaretoken": csrf[1]}
                self._request("page POST", "POST", path, form)
            time.sleep(0.05)


@pytest.fixture
def private_postgresql():
    require_env_url("DATABASE_URL")  # belongs with the tests that need PostgreSQL
    server = PrivatePostgreSQL(free_port())
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.remove()


@pytest.fixture
def gunicorn(private_postgresql, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": private_postgresql.url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "studyportal.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            "--workers=2",
            "--threads=4",
            "--worker-class=gthread",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answers() -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
            return conn.getresponse().status < 500
        except OSError:
            return False

    try:
        wait_until(
            answers,
            timeout=30,
            message=lambda: (tmp_path / "gunicorn.log").read_text(),
        )
        yield server, port
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


WARM_UP_REQUESTS = 11


def load(browsers: list[Browser], *, seconds: float, meanwhile=lambda: None):
    """Run every browser for ``seconds`` after calling ``meanwhile``, which
    comes once they have been answered WARM_UP_REQUESTS times (or 15 seconds
    have passed): on a busy machine one second may not be enough."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=browser.keep_answering, args=(stop,))
        for browser in browsers
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            sum(len(browser.outcomes) for browser in browsers) < WARM_UP_REQUESTS
        ):
            time.sleep(0.1)
        meanwhile()
        time.sleep(seconds - 1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def test_requests_fail_cleanly_during_a_restart_and_succeed_after_it(
    private_postgresql, gunicorn
):
    run_manage(private_postgresql.url, "migrate", "--noinput", "-v0")
    tokens = json.loads(
        run_manage(private_postgresql.url, "shell", "-c", SEED).splitlines()[-1]
    )
    server, port = gunicorn
    browsers = [Browser(port, token) for token in tokens]
    marks: dict[str, float] = {}

    def restart() -> None:
        marks["began"] = time.monotonic()
        private_postgresql.restart()
        marks["restarted"] = time.monotonic()

    # Restarted under load.
    load(browsers, seconds=6, meanwhile=restart)
    outcomes = [o for browser in browsers for o in browser.outcomes]
    statuses = Counter(o.status for o in outcomes)
    before = [o for o in outcomes if o.ended < marks["began"]]
    settled = [o for o in outcomes if o.began > marks["restarted"] + 1]
    assert len(before) >= WARM_UP_REQUESTS, statuses
    assert len(settled) > 20, statuses
    # Caught by the restart: a 503 page, never a 500, a dropped connection or
    # a hang. Soon after it, every request is served by the same gunicorn.
    assert set(statuses) <= {200, 302, 503}, statuses
    assert max(o.ended - o.began for o in outcomes) < 10
    assert {o.status for o in settled} <= {200, 302}, statuses
    assert server.poll() is None

    # Restarted while idle (overnight, say): each worker thread still holds a
    # connection from before, dead now. The first requests after must not fail.
    for browser in browsers:
        browser.outcomes.clear()
    private_postgresql.restart()
    load(browsers, seconds=3)
    after = Counter(o.status for browser in browsers for o in browser.outcomes)
    assert sum(after.values()) > 20
    assert set(after) <= {200, 302}, after
