"""Key pages load under the Content-Security-Policy without a single violation."""

import pytest
from django.core.cache import cache
from django.utils import timezone

from analysis.interview_models import Transcript
from participants import links
from studyportal import demo
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def watch_for_violations(page) -> list[str]:
    """Chromium reports each blocked script, style or handler on the console."""
    violations: list[str] = []

    def on_console(message):
        if "Content Security Policy" in message.text:
            violations.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    return violations


def visit(page, path: str) -> None:
    response = page.goto(path)
    assert response.ok, f"{path} answered {response.status}"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("load")


def test_staff_pages_load_without_a_policy_violation(page, demo_data):
    violations = watch_for_violations(page)
    visit(page, "/accounts/login/")
    log_in(page, "coordinator", demo.DEMO_PASSWORD)
    participant = demo_data.participants.order_by("pk").first()
    for path in ("/", "/participants/", participant.get_absolute_url(), "/dashboard/"):
        visit(page, path)
    page.context.clear_cookies()

    log_in(page, "investigator", demo.DEMO_PASSWORD)
    visit(page, "/analysis/")
    visit(page, f"/analysis/studies/{demo_data.pk}/specify/")
    assert not violations, "\n".join(violations)


def test_the_coding_page_loads_without_a_policy_violation(page, demo_data):
    demo.seed_demo_interviews(demo_data, today=timezone.localdate())
    violations = watch_for_violations(page)
    log_in(page, "qualitative", demo.DEMO_PASSWORD)
    visit(page, "/coding/")
    transcript = Transcript.objects.order_by("pk").first()
    visit(page, f"/coding/transcripts/{transcript.pk}/")
    assert not violations, "\n".join(violations)


def test_the_patient_questionnaire_loads_without_a_policy_violation(phone, demo_data):
    participant = demo_data.participants.filter(contact__isnull=False).first()
    visit_row = participant.visits.order_by("due_on").first()
    token = links.issue_token(visit_row)
    cache.clear()  # earlier tests' mistyped links count against this address
    violations = watch_for_violations(phone)
    visit(phone, links.questionnaire_path(token))
    visit(phone, f"/q/{token}/1/")
    assert not violations, "\n".join(violations)
