"""A coordinator chases today's overdue participants and downloads the CONSORT."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from participants.models import ContactAttempt, MessageKind, OutboundMessage
from studyportal import demo
from tests.browser.conftest import assert_accessible, log_in

pytestmark = pytest.mark.browser


def test_find_overdue_log_a_call_resend_and_download_the_consort(page, demo_data):
    log_in(page, "coordinator", demo.DEMO_PASSWORD)
    page.get_by_role("link", name="Work list").click()
    page.get_by_label("Overdue only (past the due date)").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Overdue", exact=True).first).to_be_visible()
    assert_accessible(page)

    # Log a call on the participant whose window closes soonest.
    page.locator("summary", has_text="Record a contact attempt").first.click()
    form = page.locator("details[open] form").first
    channel, outcome = form.locator("select").nth(0), form.locator("select").nth(1)
    channel.select_option("phone")
    outcome.select_option("left_message")
    form.locator("input[type=text]").fill("Will try again after clinic")
    form.get_by_role("button", name="Save").click()
    expect(page.locator(".alert-success")).to_contain_text("left a message")
    attempt = ContactAttempt.objects.get()
    assert (attempt.channel, attempt.outcome) == ("phone", "left_message")
    assert attempt.note == "Will try again after clinic"

    # Re-send the link to the same participant.
    invites_before = OutboundMessage.objects.filter(kind=MessageKind.INVITE).count()
    page.goto("/worklist/?overdue=on")
    page.get_by_role("button", name="Re-send link").first.click()
    expect(page.get_by_text("The link is on its way")).to_be_visible()
    assert OutboundMessage.objects.filter(kind=MessageKind.INVITE).count() >= (
        invites_before
    )

    # Download the CONSORT diagram from the dashboard.
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("heading", level=1).wait_for()
    assert_accessible(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="CONSORT (SVG)").click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert content.lstrip().startswith(("<?xml", "<svg"))
    assert "assessed for eligibility" in content.lower()
    assert download.value.suggested_filename.endswith(".svg")
