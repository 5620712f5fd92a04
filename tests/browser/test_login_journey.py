"""Staff log in through the browser and land on their role's home page."""

import pytest

from studyportal import demo
from tests.browser.conftest import assert_accessible, log_in

pytestmark = pytest.mark.browser


def log_in_demo(page, username: str) -> None:
    log_in(page, username, demo.DEMO_PASSWORD)


@pytest.mark.parametrize(
    ("username", "heading"),
    [
        ("clinic1", "Your clinic"),
        ("coordinator", "Follow-up across sites"),
        ("investigator", "Analysis and data"),
        ("admin", "Study set-up"),
    ],
)
def test_each_demo_user_logs_in_and_sees_their_home(
    page, demo_users, username, heading
):
    log_in_demo(page, username)
    assert page.get_by_role("heading", name=heading).is_visible()
    assert demo_users.name in page.locator("footer").inner_text()
    assert_accessible(page)


def test_login_page_is_accessible_and_says_who_it_is_for(page, demo_users):
    page.goto("/accounts/login/")
    assert "Patients use the personal link" in page.content()
    assert_accessible(page)


def test_wrong_password_shows_an_error_and_keeps_the_username(page, demo_users):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("clinic1")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_text("enter a correct username and password").is_visible()
    assert page.get_by_label("Username").input_value() == "clinic1"


def test_staff_log_out_from_the_menu_on_a_phone(phone, demo_users):
    log_in_demo(phone, "coordinator")
    phone.get_by_role("button", name="Show navigation").click()
    # Bootstrap animates the menu open; wait until it has finished.
    phone.locator("#main-nav.collapse.show").wait_for()
    phone.get_by_role("button", name="coordinator").click()
    phone.locator(".dropdown-menu.show").wait_for()
    phone.get_by_role("button", name="Log out").click()
    phone.get_by_role("heading", name="Log in").wait_for()
    phone.goto("/")
    assert "/accounts/login/" in phone.url


def test_admin_opens_study_set_up_from_home(page, demo_users):
    log_in_demo(page, "admin")
    page.get_by_role("link", name="Open study set-up").click()
    page.get_by_role("heading", name="Study set-up").wait_for()
    page.get_by_role("link", name="Back Pain Partnership").click()
    page.get_by_role("heading", name="Protocol versions").wait_for()
    page.goto("/")
    page.get_by_role("link", name="User accounts and the Django admin").click()
    page.get_by_role("link", name="Studies").wait_for()
    assert "StudyPortal administration" in page.content()
