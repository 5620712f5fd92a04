"""Web, worker and beat together write no token, name, email or phone number.

``rundemo`` starts the three processes as ``make demo`` does, with the console
backends that write every email and text message to the log. A member of staff
enrols a patient, sends the invitation by email and text, searches for the
patient by name, email and phone, and the patient answers the questionnaire.
Every line the three processes wrote is then read.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.urls import reverse

from tests.integration.mail_and_worker import free_port, wait_until
from tests.participants.journeys import consent_post, enrol_post, screening_post
from tests.questionnaire.conftest import complete_answers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NAME = "Rosalind Quartermaine"
EMAIL = "rosalind.q@example.org"
MOBILE = "07911 123456"
SECRETS_OF_THE_MOBILE = ("07911 123456", "07911123456", "+447911123456", "447911123456")
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SEED = """
from studyportal import demo
study = demo.seed_reference_study()
demo.seed_demo_users(study)
print(study.sites.get(code="LDS").pk)
"""


class Client:
    """A browser's cookies and CSRF tokens over plain HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[str, str]:
        return self._open(self.base + path)

    def _open(self, request) -> tuple[str, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.geturl(), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.geturl(), error.read().decode()

    def post(self, path: str, data: dict) -> tuple[str, str]:
        """Post the form on ``path`` as a browser would, after loading the page."""
        _, page = self.get(path)
        token = CSRF_FIELD.search(page).group(1)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}, True)
        request = urllib.request.Request(
            self.base + path, data=body.encode(), headers={"Referer": self.base + path}
        )
        return self._open(request)


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


def test_h1_web_worker_and_beat_log_no_token_name_email_or_phone(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
        and not key.startswith(("SMS_", "EMAIL_", "PUBLIC_BASE_URL"))
    }
    env.update(
        DEBUG="1",
        STUDYPORTAL_VAR_DIR=str(tmp_path),
        SCHEDULE_PLAN_MESSAGES_SECONDS="2",
        LOG_LEVEL="INFO",
    )
    manage(env, "migrate", "-v0")
    site = manage(env, "shell", "-c", SEED).split()[-1]
    port = free_port()
    log_path = tmp_path / "rundemo.log"
    with log_path.open("w") as log_file:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "rundemo", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def logged() -> str:
        return log_path.read_text(errors="replace")

    try:
        staff = Client(base)
        wait_until(_answers(staff), timeout=60, message=logged)
        staff.post(
            reverse("login"), {"username": "clinic1", "password": "studyportal-demo"}
        )
        url, _ = staff.post(
            reverse("participants:screening_new"),
            screening_post(type("Site", (), {"pk": site})()),
        )
        screening = re.search(r"/screening/(\d+)/", url).group(1)
        staff.post(
            reverse("participants:consent", args=[screening]),
            consent_post(typed_name=NAME),
        )
        url, _ = staff.post(
            reverse("participants:enrol", args=[screening]),
            enrol_post(
                **{
                    "contact-full_name": NAME,
                    "contact-email": EMAIL,
                    "contact-mobile": MOBILE,
                    "contact-preferred_channel": "both",
                }
            ),
        )
        participant = re.search(r"/participants/(\d+)/", url).group(1)
        staff.post(
            reverse("participants:handover", args=[participant]), {"action": "send"}
        )
        wait_until(
            lambda: (
                "Email printed, not sent" in logged()
                and "Text message printed, not sent" in logged()
            ),
            timeout=60,
            message=logged,
        )
        for term in ("Quartermaine", EMAIL, MOBILE):
            staff.get(
                reverse("participants:list") + "?" + urllib.parse.urlencode({"q": term})
            )

        code = re.search(r"LDS-\d+", staff.get(f"/participants/{participant}/")[1])
        link = manage(env, "issue_link", code.group(0), "--timepoint", "baseline")
        token = re.search(r"/q/([^/\s]+)/", link).group(1)
        patient = Client(base)
        patient.get(reverse("questionnaire:start", args=[token]))
        for number, answers in complete_answers().items():
            patient.post(
                reverse("questionnaire:page", args=[token, number]),
                {**answers, "go": "next"},
            )
        url, _ = patient.post(reverse("questionnaire:review", args=[token]), {})
        assert url.endswith(reverse("questionnaire:done", args=[token]))
        patient.get(f"/q/{token}x/")  # a mistyped link: its path is logged
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()

    text = logged()
    assert "Text message printed, not sent: to [redacted]" in text
    assert "Not Found: /q/[redacted]/" in text
    assert "q=[redacted]" in text
    for secret in (
        token,
        NAME,
        "Rosalind",
        "Quartermaine",
        EMAIL,
        *SECRETS_OF_THE_MOBILE,
    ):
        assert secret not in text, f"{secret!r} appears in the logs"
    assert not re.search(r"/q/(?!\[redacted\])(?!stop/\[redacted\])", text), text


def _answers(client: Client):
    def check() -> bool:
        try:
            client.get("/healthz")
        except OSError:
            return False
        return True

    return check
