"""Staff preview a questionnaire as patients will see it, with live branching."""

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from playwright.sync_api import expect

from instruments import catalogue
from instruments.expressions import parse, truthy
from tests.browser.conftest import assert_accessible, log_in
from tests.factories import STAFF_PASSWORD, SiteFactory, clinic_staff
from tests.instruments.test_expressions import answer_sets, grammar

pytestmark = pytest.mark.browser


@pytest.fixture
def staff_page(page, transactional_db):
    catalogue.load_shipped()
    log_in(page, clinic_staff(SiteFactory()).username, STAFF_PASSWORD)
    return page


def test_branching_and_calculations_update_as_staff_answer(staff_page):
    page = staff_page
    page.get_by_role("link", name="Questionnaires").click()
    page.get_by_role("link", name="Baseline characteristics", exact=True).click()
    page.get_by_role("link", name="Preview as a patient sees it").click()

    page.locator("form[data-ready]").wait_for()
    age_in_years = page.get_by_role("spinbutton", name="Age in years")
    date_of_birth = page.locator("#id_dob")
    age = page.locator("[data-item=age] output")
    expect(age_in_years).to_be_hidden()
    expect(date_of_birth).to_be_hidden()

    page.get_by_role("radio", name="Age in years").check()
    expect(age_in_years).to_be_visible()
    expect(date_of_birth).to_be_hidden()
    age_in_years.fill("45")
    expect(age).to_have_text("45")

    page.get_by_role("radio", name="Date of birth").check()
    expect(date_of_birth).to_be_visible()
    expect(age_in_years).to_be_hidden()
    birthday = dt.date.today().replace(year=dt.date.today().year - 30)
    date_of_birth.fill(birthday.isoformat())
    expect(age).to_have_text("30")

    other = page.get_by_role("textbox", name="Other treatment")
    expect(other).to_be_hidden()
    page.get_by_role("checkbox", name="Other", exact=True).check()
    expect(other).to_be_visible()
    assert_accessible(page)


def test_errors_are_summarised_and_fixed_answers_are_scored(staff_page):
    page = staff_page
    page.goto("/instruments/pain_severity/v1/")
    page.locator("label[for=id_pain_worst_8]").click()
    page.get_by_role("button", name="Check answers").click()

    summary = page.get_by_role("alert")
    page.locator("form[data-ready]").wait_for()
    assert "There are 3 problems with your answers" in summary.inner_text()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    # The worst-pain answer survived the round trip.
    assert page.locator("#id_pain_worst_8").is_checked()
    assert_accessible(page)

    for name, value in (("pain_least", 2), ("pain_average", 5), ("pain_now", 5)):
        page.locator(f"label[for=id_{name}_{value}]").click()
    page.get_by_role("button", name="Check answers").click()
    page.get_by_role("heading", name="These answers are valid").wait_for()
    assert "5" in page.locator("table").first.inner_text()


def test_a_matrix_stacks_on_a_phone_and_is_accessible(phone, transactional_db):
    catalogue.load_shipped()
    log_in(phone, clinic_staff(SiteFactory()).username, STAFF_PASSWORD)
    phone.goto("/instruments/partnership/v1/")
    phone.locator("form[data-ready]").wait_for()
    first_row = phone.locator(".matrix-row").first
    # On a phone each option shows its own label under the question.
    assert first_row.get_by_text("Strongly agree").is_visible()
    assert not phone.locator(".matrix-head").first.is_visible()
    first_row.get_by_text("Agree", exact=True).click()
    assert first_row.get_by_role("radio", name="Agree", exact=True).is_checked()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone"
    assert_accessible(phone)


@pytest.fixture
def blank_page(staff_page):
    staff_page.goto("/instruments/pain_severity/v1/")
    staff_page.locator("form[data-ready]").wait_for()
    return staff_page


def test_the_browser_evaluates_branching_exactly_like_the_server(blank_page):
    cases = []

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(source=grammar, answers=answer_sets)
    def collect(source, answers):
        expression = parse(source)
        answers = {
            k: v for k, v in answers.items() if not (isinstance(v, float) and v != v)
        }
        if any(
            isinstance(v, float) and abs(v) == float("inf") for v in answers.values()
        ):
            return
        expected = truthy(expression.evaluate(answers, today=dt.date.today()))
        cases.append((expression.to_json(), answers, expected, source))

    collect()
    results = blank_page.evaluate(
        """cases => cases.map(([tree, answers]) =>
             window.StudyPortalExpressions.truthy(
               window.StudyPortalExpressions.evaluate(tree, answers)))""",
        [[tree, answers] for tree, answers, _, _ in cases],
    )
    mismatches = [
        (source, answers, expected)
        for (_, answers, expected, source), got in zip(cases, results, strict=True)
        if got != expected
    ]
    assert not mismatches, json.dumps(mismatches[:5], default=str)
