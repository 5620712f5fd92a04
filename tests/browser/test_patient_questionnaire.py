"""A patient on a phone completes the baseline questionnaire from their link."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from instruments.models import Response
from participants import links
from participants.models import VisitStatus
from tests.browser.conftest import assert_accessible
from tests.questionnaire.conftest import days_ago, enrol_participant

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "var/screenshots"))


@pytest.fixture
def visit(transactional_db):
    from studyportal import demo

    study = demo.seed_reference_study()
    participant = enrol_participant(study)
    return participant.visits.get(timepoint__code="baseline")


@pytest.fixture
def link(visit):
    return links.questionnaire_path(links.issue_token(visit))


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def check_page(page, name: str) -> None:
    page.locator("form[data-ready], main").first.wait_for()
    assert_accessible(page)
    shoot(page, name)


def pick_rating(page, question: str, value: int) -> None:
    page.get_by_role("group", name=question).get_by_text(str(value), exact=True).click()


def answer_matrix(page, choice: str) -> None:
    for row in page.locator(".matrix-row").all():
        row.get_by_text(choice, exact=True).click()


def answer_pain(page) -> None:
    pick_rating(page, "when it was worst", 8)
    pick_rating(page, "when it was lowest", 2)
    pick_rating(page, "most of the time", 5)
    pick_rating(page, "at this moment", 5)


def test_a_patient_completes_the_baseline_on_a_phone(phone, visit, link):
    phone.goto(link)
    phone.get_by_role("heading", name="Your baseline questionnaire").wait_for()
    check_page(phone, "01-welcome")
    phone.get_by_role("link", name="Start").click()

    expect(phone.get_by_text("Page 1 of 5")).to_be_visible()
    check_page(phone, "02-pain")
    answer_pain(phone)
    phone.get_by_role("button", name="Next").click()

    for number, screenshot in ((2, "03-partnership-1"), (3, "04-partnership-2")):
        expect(phone.get_by_text(f"Page {number} of 5")).to_be_visible()
        check_page(phone, screenshot)
        answer_matrix(phone, "Agree")
        phone.get_by_role("button", name="Next").click()

    expect(phone.get_by_text("Page 4 of 5")).to_be_visible()
    check_page(phone, "05-self-management")
    for group in phone.locator("fieldset.instrument-item").all():
        group.get_by_text("6", exact=True).click()
    phone.get_by_role("button", name="Next").click()

    expect(phone.get_by_text("Page 5 of 5")).to_be_visible()
    check_page(phone, "06-mood")
    answer_matrix(phone, "Sometimes")
    phone.get_by_role("button", name="Check your answers").click()

    phone.get_by_role("heading", name="Check your answers").wait_for()
    check_page(phone, "07-review")
    phone.get_by_role("button", name="Send my answers").click()
    phone.get_by_role("heading", name="Thank you").wait_for()
    check_page(phone, "08-thank-you")

    visit.refresh_from_db()
    assert visit.status == VisitStatus.COMPLETED
    pain = Response.objects.get(instrument__slug="pain_severity")
    assert pain.scores["pain_severity"]["value"] == 5.0
    assert pain.mode == "web" and pain.paradata["device"] == "phone"


def test_closing_the_browser_half_way_and_resuming(browser, live_server, visit, link):
    first = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}
    )
    page = first.new_page()
    page.goto(link)
    page.get_by_role("link", name="Start").click()
    answer_pain(page)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Page 2 of 5")).to_be_visible()
    first.close()

    second = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}
    )
    page = second.new_page()
    page.goto(link)
    page.get_by_role("link", name="Carry on where you left off").click()
    expect(page.get_by_text("Page 2 of 5")).to_be_visible()
    page.get_by_role("button", name="Previous").click()
    expect(page.get_by_role("radio", name="8").first).to_be_checked()
    second.close()


def test_a_validation_error_and_its_fix(phone, visit, link):
    phone.goto(link)
    phone.get_by_role("link", name="Start").click()
    pick_rating(phone, "when it was worst", 7)
    phone.get_by_role("button", name="Next").click()
    summary = phone.get_by_role("alert")
    expect(summary).to_contain_text("There are 3 problems with your answers")
    phone.locator("form[data-ready]").wait_for()
    assert phone.evaluate("document.activeElement.id") == "error-summary"
    check_page(phone, "09-errors")
    summary.get_by_role("link").first.click()
    answer_pain(phone)
    phone.get_by_role("button", name="Next").click()
    expect(phone.get_by_text("Page 2 of 5")).to_be_visible()


def test_double_submit_sends_once(phone, visit, link):
    from instruments import questionnaire
    from tests.questionnaire.conftest import complete_answers

    pages = questionnaire.pages_for(visit)
    for number, answers in complete_answers().items():
        questionnaire.save_page(
            visit, pages[number - 1], answers, mode="web", device="phone"
        )
    phone.goto(link.rstrip("/") + "/review/")
    button = phone.get_by_role("button", name="Send my answers")
    button.dblclick()
    phone.get_by_role("heading", name="Thank you").wait_for()
    phone.go_back()
    phone.reload()
    phone.get_by_role("heading", name="Thank you").wait_for()
    submitted = Response.objects.filter(visit=visit, status="submitted")
    assert submitted.count() == 5
    assert len({r.submitted_at for r in submitted.exclude(mode="staff")}) == 1


def test_an_expired_link(phone, visit, link):
    visit.opens_on, visit.closes_on = days_ago(30), days_ago(1)
    visit.save()
    phone.goto(link)
    phone.get_by_role("heading", name="This questionnaire is closed").wait_for()
    check_page(phone, "10-expired")


def test_keyboard_only_completion_of_the_pain_questions(phone, visit, link):
    phone.goto(link)
    phone.keyboard.press("Tab")  # skip link
    phone.get_by_role("link", name="Start").focus()
    phone.keyboard.press("Enter")
    expect(phone.get_by_text("Page 1 of 5")).to_be_visible()
    for question, value in (("worst", 6), ("lowest", 1), ("most of the time", 4),
                            ("at this moment", 3)):  # fmt: skip
        group = phone.get_by_role("group", name=question)
        group.get_by_role("radio").first.focus()
        for _ in range(value):
            phone.keyboard.press("ArrowRight")
        assert group.get_by_role("radio", name=str(value), exact=True).is_checked()
    phone.get_by_role("button", name="Next").focus()
    phone.keyboard.press("Enter")
    expect(phone.get_by_text("Page 2 of 5")).to_be_visible()
    pain = Response.objects.get(instrument__slug="pain_severity")
    assert pain.answers == {
        "pain_worst": 6,
        "pain_least": 1,
        "pain_average": 4,
        "pain_now": 3,
    }


def test_a_narrow_phone_never_scrolls_sideways(browser, live_server, visit, link):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 360, "height": 740}
    )
    page = context.new_page()
    page.goto(link)
    page.get_by_role("link", name="Start").click()
    expect(page.get_by_text("Page 1 of 5")).to_be_visible()
    page.locator("form[data-ready]").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    context.close()


def test_switching_away_from_the_page_saves_the_answers(phone, visit, link):
    phone.goto(link)
    phone.get_by_role("link", name="Start").click()
    phone.locator("form[data-ready]").wait_for()
    pick_rating(phone, "when it was worst", 9)
    phone.evaluate(
        """() => {
            Object.defineProperty(document, "visibilityState",
                                  {value: "hidden", configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    for _ in range(50):
        saved = Response.objects.filter(instrument__slug="pain_severity").first()
        if saved and saved.answers.get("pain_worst") == 9:
            break
        phone.wait_for_timeout(100)
    else:
        pytest.fail("the answer was not saved when the page was hidden")
