"""An administrator sets a new study up in the browser, and it runs: a patient is
screened, consented and enrolled, and answers the baseline questionnaire."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from instruments.models import Response, ResponseStatus
from participants.models import Participant, Study
from tests.browser.conftest import assert_accessible, log_in
from tests.factories import STAFF_PASSWORD, UserFactory

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "var/screenshots"))


@pytest.fixture
def administrator(transactional_db):
    return UserFactory(username="setup_admin", is_superuser=True, is_staff=True)


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"builder-{name}.png", full_page=True)


def test_an_administrator_builds_a_study_and_a_patient_answers_it(page, administrator):
    log_in(page, administrator.username, STAFF_PASSWORD)
    page.get_by_role("link", name="Study set-up", exact=True).click()
    page.get_by_role("heading", name="Create a study").wait_for()
    page.get_by_label("Full title").fill("Shoulder pain and return to work")
    page.get_by_label("Short name").fill("Shoulder Work")
    page.get_by_label("Short address").fill("shoulder-work")
    page.get_by_label("First site's code").fill("MAN")
    page.get_by_label("First site's name").fill("Manchester Shoulder Clinic")
    assert_accessible(page)
    page.get_by_role("button", name="Create the study").click()

    page.get_by_text("Shoulder Work created.").wait_for()
    shoot(page, "study")
    assert_accessible(page)
    page.get_by_role("link", name="Questionnaires at each timepoint").click()
    page.get_by_role("heading", name="Questionnaires at each timepoint").wait_for()
    page.get_by_label("About you and your knee", exact=True).check()
    page.get_by_label("Order of About you and your knee at Baseline").fill("1")
    page.get_by_label("Your knee pain", exact=True).check()
    page.get_by_label("Order of Your knee pain at Baseline").fill("2")
    assert_accessible(page)
    shoot(page, "questionnaires")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("saved as protocol version 2").wait_for()
    expect(page.get_by_text("knee_characteristics, knee_pain")).to_be_visible()

    study = Study.objects.get(slug="shoulder-work")
    assert study.protocol_versions.count() == 2

    page.get_by_role("link", name="Screening").click()
    page.get_by_role("link", name="Screen a referred patient").click()
    site = page.get_by_label("Site")
    if site.count():
        site.select_option(label="Manchester Shoulder Clinic (MAN)")
    page.get_by_label("Agreed to hear about the study").check()
    page.get_by_role("button", name="Save screening").click()

    page.get_by_role("heading", name="Consent to take part").wait_for()
    page.get_by_label("I agree to take part in this study.").check()
    page.get_by_label("Patient: type your full name to sign").fill("Alex Example")
    page.get_by_role("button", name="Record consent").click()

    page.get_by_role("heading", name="Enrol the participant").wait_for()
    page.get_by_label("Full name").fill("Alex Example")
    page.get_by_label("Email address").fill("alex.example@example.invalid")
    page.get_by_role("spinbutton", name="How old are you?").fill("52")
    page.get_by_role("group", name="What is your sex?").get_by_label("Female").check()
    page.get_by_role("group", name="Which knee").get_by_label("My left knee").check()
    page.get_by_role("spinbutton", name="For how many months").fill("8")
    page.get_by_role("button", name="Enrol").click()
    page.get_by_text("Enrolled as MAN-0001.").wait_for()

    page.get_by_role("button", name="Hand over now").click()
    page.get_by_role("heading", name="Your baseline questionnaire").wait_for()
    page.get_by_role("link", name="Start").click()
    for question in ("ordinary day", "level surface", "steps or stairs", "at night"):
        page.get_by_role("group", name=question).get_by_text("4", exact=True).click()
    assert_accessible(page)
    page.get_by_role("button", name="Check your answers").click()
    page.get_by_role("button", name="Send my answers").click()
    page.get_by_role("heading", name="Thank you").wait_for()

    participant = Participant.objects.get(study=study)
    answered = Response.objects.get(
        visit__participant=participant, instrument__slug="knee_pain"
    )
    assert answered.status == ResponseStatus.SUBMITTED
    assert answered.scores["knee_pain"]["value"] == 4
