"""A coordinator turns on two-step sign-in, then logs in with password and code."""

import time
from base64 import b32decode

import pytest
from django_otp.oath import TOTP

from studyportal import demo
from tests.browser.conftest import assert_accessible, log_in

pytestmark = pytest.mark.browser


def app_code(secret: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app holding ``secret`` shows, now or a step later."""
    totp = TOTP(b32decode(secret.replace(" ", "")))
    totp.time = time.time() + steps_ahead * totp.step
    return f"{totp.token():06d}"


def test_a_coordinator_sets_up_an_authenticator_and_signs_in_with_it(page, demo_users):
    log_in(page, "coordinator", demo.DEMO_PASSWORD)

    page.get_by_role("button", name="coordinator").click()
    page.get_by_role("link", name="Two-step sign-in").click()
    page.get_by_role("heading", name="Two-step sign-in", exact=True).wait_for()
    assert_accessible(page)
    page.get_by_role("link", name="Set up an authenticator app").click()

    page.get_by_role("heading", name="Set up two-step sign-in").wait_for()
    qr = page.get_by_role("img", name="QR code")
    assert qr.evaluate("image => image.complete && image.naturalWidth > 0")
    assert_accessible(page)
    # The app is given the key by hand, as when the camera cannot scan.
    secret = page.locator("#secret-key").inner_text()
    wrong = f"{(int(app_code(secret)) + 1) % 10**6:06d}"
    page.get_by_label("6-digit code").fill(wrong)
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    page.get_by_text("That code is not right").wait_for()
    assert page.locator("#secret-key").inner_text() == secret
    # A wrong code pauses codes for a second before the next one is tried.
    time.sleep(1.5)
    page.get_by_label("6-digit code").fill(app_code(secret))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    page.get_by_text("Two-step sign-in is on.").wait_for()

    page.get_by_role("button", name="coordinator").click()
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()

    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Enter your code").wait_for()
    assert "/accounts/two-step/verify/" in page.url
    assert_accessible(page)
    # No way round the code step: the staff pages send the user back to it.
    page.goto("/participants/")
    page.get_by_role("heading", name="Enter your code").wait_for()

    # The code used to set up is spent; the app's next one signs in.
    page.get_by_label("6-digit code").fill(app_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Participants").wait_for()
    page.goto("/")
    page.get_by_role("heading", name="Welcome, coordinator").wait_for()
    assert page.get_by_role("heading", name="Follow-up across sites").is_visible()
