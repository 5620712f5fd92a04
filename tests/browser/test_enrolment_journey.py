"""Clinic staff screen, consent and enrol a patient, then hand over the tablet."""

import pytest
from playwright.sync_api import expect

from participants.models import ContactView, Participant, ScreeningRecord
from studyportal import demo
from tests.browser.conftest import assert_accessible, log_in
from tests.factories import STAFF_PASSWORD, clinic_staff

pytestmark = pytest.mark.browser


@pytest.fixture
def leeds_staff(transactional_db):
    study = demo.seed_reference_study()
    return clinic_staff(study.sites.get(code="LDS"))


def test_screen_consent_enrol_and_hand_over(page, leeds_staff):
    log_in(page, leeds_staff.username, STAFF_PASSWORD)
    page.get_by_role("link", name="Screen a referred patient").click()

    for criterion in (
        "Aged 18 or over",
        "Back pain for 3 months or more",
        "Referred to the pain management clinic",
        "Able to complete questionnaires in English",
        "No suspected serious pathology (no red flags)",
    ):
        page.get_by_role("group", name=criterion).get_by_label("Yes").check()
    page.get_by_label("Agreed to hear about the study").check()
    assert_accessible(page)
    page.get_by_role("button", name="Save screening").click()

    page.get_by_role("heading", name="Consent to take part").wait_for()
    page.get_by_label("I agree to take part in this study").check()
    page.get_by_label("I agree to be contacted").check()
    page.get_by_label("I understand that if I withdraw").check()
    page.get_by_role("group", name="I would be willing to be interviewed").get_by_label(
        "Yes, I agree"
    ).check()
    page.get_by_label("Patient: type your full name to sign").fill("Sam Tester")
    assert_accessible(page)
    page.get_by_role("button", name="Record consent").click()

    page.get_by_role("heading", name="Enrol the participant").wait_for()
    page.get_by_label("Full name").fill("Sam Tester")
    page.get_by_label("Email address").fill("sam.tester@example.invalid")
    page.get_by_label("Mobile number").fill("07911 123456")
    page.get_by_label("Age in years", exact=True).check()
    page.get_by_role("spinbutton", name="Age in years").fill("47")
    page.get_by_role("group", name="Sex").get_by_label("Male", exact=True).check()
    page.get_by_label("How long has the participant had back pain?").fill("30")
    assert_accessible(page)
    page.get_by_role("button", name="Enrol").click()

    page.get_by_text("Enrolled as LDS-0001.").wait_for()
    participant = Participant.objects.get()
    assert participant.code == "LDS-0001"
    assert participant.contact.mobile == "+447911123456"
    assert participant.interview_consent
    assert ScreeningRecord.objects.get().outcome == "enrolled"
    assert_accessible(page)

    page.get_by_role("button", name="Hand over now").click()
    page.get_by_role("heading", name="Your baseline questionnaire").wait_for()
    # The patient sees no staff navigation, and the staff session is gone.
    expect(page.get_by_role("link", name="Participants")).to_have_count(0)
    assert_accessible(page)
    page.goto("/participants/")
    assert "/accounts/login/" in page.url


def test_a_bad_phone_number_is_explained_and_nothing_is_saved(page, leeds_staff):
    log_in(page, leeds_staff.username, STAFF_PASSWORD)
    page.goto("/screening/new/")
    for group in page.get_by_role("group").all():
        yes = group.get_by_label("Yes")
        if yes.count():
            yes.check()
    page.get_by_label("Agreed to hear about the study").check()
    page.get_by_role("button", name="Save screening").click()
    page.get_by_label("I agree to take part in this study").check()
    page.get_by_role("button", name="Record consent").click()
    # Two required statements and the typed name are missing.
    expect(
        page.get_by_text("This statement must be agreed to take part.")
    ).to_have_count(2)
    assert not Participant.objects.exists()


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def test_a_paper_consent_scan_is_uploaded_and_downloaded_again(
    page, leeds_staff, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    log_in(page, leeds_staff.username, STAFF_PASSWORD)
    page.goto("/screening/new/")
    for group in page.get_by_role("group").all():
        yes = group.get_by_label("Yes")
        if yes.count():
            yes.check()
    page.get_by_label("Agreed to hear about the study").check()
    page.get_by_role("button", name="Save screening").click()

    page.get_by_role("heading", name="Consent to take part").wait_for()
    page.get_by_role("radio", name="Paper form").check()
    page.get_by_label("I agree to take part in this study").check()
    page.get_by_label("I agree to be contacted").check()
    page.get_by_label("I understand that if I withdraw").check()
    page.get_by_role("group", name="I would be willing to be interviewed").get_by_label(
        "No, I do not agree"
    ).check()
    page.get_by_label("Scanned paper form (optional)").set_input_files(
        files=[{"name": "signed.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.get_by_role("button", name="Record consent").click()

    page.get_by_role("heading", name="Enrol the participant").wait_for()
    page.get_by_label("Full name").fill("Pat Paper")
    page.get_by_label("Email address").fill("pat.paper@example.invalid")
    page.get_by_label("Age in years", exact=True).check()
    page.get_by_role("spinbutton", name="Age in years").fill("61")
    page.get_by_role("group", name="Sex").get_by_label("Female", exact=True).check()
    page.get_by_label("How long has the participant had back pain?").fill("12")
    page.get_by_role("button", name="Enrol").click()
    page.get_by_text("Enrolled as LDS-0001.").wait_for()

    page.get_by_role("link", name="Back to LDS-0001").click()
    link = page.get_by_role("link", name="Open the signed form (PDF)")
    assert_accessible(page)
    with page.expect_download() as started:
        link.click()
    download = started.value
    assert download.suggested_filename.endswith(".pdf")
    with open(download.path(), "rb") as saved:
        assert saved.read() == PDF
    assert ContactView.objects.filter(consent__isnull=False).count() == 1
