"""Two-step sign-in: setting up an authenticator, the code step, turning it off."""

import logging
import time
from base64 import b32encode
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from studyportal import two_factor
from studyportal.models import LoginEvent, LoginEventKind
from tests.factories import (
    STAFF_PASSWORD,
    SiteFactory,
    StudyFactory,
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
    qualitative,
)

pytestmark = pytest.mark.django_db

SET_UP = reverse("two_factor_set_up")
VERIFY = reverse("two_factor_verify")
TURN_OFF = reverse("two_factor_turn_off")
OVERVIEW = reverse("two_factor")


def next_code(device: TOTPDevice) -> str:
    """The code an authenticator app shows that the device will still accept.

    A code is taken once: after one is used, the app's next code is due.
    """
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    while totp.t() <= device.last_t:
        totp.time += device.step
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(next_code(device)) + 1) % 10**6:06d}"


def events(kind) -> int:
    return LoginEvent.objects.filter(kind=kind).count()


def location(response) -> tuple[str, dict]:
    url = urlparse(response["Location"])
    return url.path, {key: values[0] for key, values in parse_qs(url.query).items()}


def with_device(user) -> TOTPDevice:
    """A user who has set two-step sign-in up already."""
    return TOTPDevice.objects.create(user=user, name="Authenticator app")


def password_login(client, user, next_url: str = ""):
    data = {"username": user.username, "password": STAFF_PASSWORD}
    url = reverse("login") + (f"?next={next_url}" if next_url else "")
    response = client.post(url, data)
    assert response.status_code == 302, "the password step failed"
    return response


def set_up_through_pages(client, user) -> TOTPDevice:
    client.force_login(user)
    assert client.get(SET_UP).status_code == 200
    device = TOTPDevice.objects.get(user=user)
    response = client.post(SET_UP, {"code": next_code(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    return device


@pytest.fixture
def user(db):
    """A coordinator: a member of staff who may open the participant list."""
    return coordinator(StudyFactory())


@pytest.fixture
def no_throttle(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


# ---------------------------------------------------------------------------
# Setting up


def test_the_set_up_page_shows_a_qr_code_and_the_secret_in_groups(client, user):
    client.force_login(user)
    response = client.get(SET_UP)
    assert response.status_code == 200
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed
    secret = b32encode(device.bin_key).decode()
    key = response.context["key"]
    assert "".join(key.secret_groups) == secret
    assert all(len(group) == 4 for group in key.secret_groups)
    assert key.otpauth_url.startswith("otpauth://totp/StudyPortal%3A")
    assert "issuer=StudyPortal" in key.otpauth_url
    body = response.content.decode()
    assert 'src="data:image/svg+xml' in body
    assert " ".join(key.secret_groups) in body
    # The policy forbids inline styles, in the page and in the QR code alike.
    assert "style=" not in body
    assert "style" not in unquote(key.qr_data_uri)


def test_reloading_the_set_up_page_keeps_the_same_secret(client, user):
    client.force_login(user)
    first = client.get(SET_UP).context["key"]
    again = client.get(SET_UP).context["key"]
    assert first == again
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_a_right_code_turns_two_step_sign_in_on(client, user):
    device = set_up_through_pages(client, user)
    assert two_factor.is_on(user)
    assert device.name == two_factor.DEVICE_NAME
    assert events(LoginEventKind.OTP_SET_UP) == 1
    # The session that set it up has just given a code, so it goes on.
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == []


def test_turning_it_on_says_so_on_the_overview(client, user):
    client.force_login(user)
    client.get(SET_UP)
    device = TOTPDevice.objects.get(user=user)
    response = client.post(SET_UP, {"code": next_code(device)}, follow=True)
    assert response.redirect_chain[-1][0] == OVERVIEW
    body = response.content.decode()
    assert "Two-step sign-in is on." in body
    assert "Turn off two-step sign-in" in body


def test_a_wrong_code_says_so_and_keeps_the_same_secret(client, user, no_throttle):
    client.force_login(user)
    key = client.get(SET_UP).context["key"]
    device = TOTPDevice.objects.get(user=user)
    response = client.post(SET_UP, {"code": wrong_code(device)})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert response.context["key"] == key
    device.refresh_from_db()
    assert not device.confirmed
    assert events(LoginEventKind.OTP_FAILED) == 1
    # Scanned once is enough: the next code from the same app works.
    response = client.post(SET_UP, {"code": next_code(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed


@pytest.mark.parametrize("typed", ["12345", "1234567", "12a456", ""])
def test_something_other_than_six_digits_is_refused_before_it_is_tried(
    client, user, typed
):
    client.force_login(user)
    client.get(SET_UP)
    response = client.post(SET_UP, {"code": typed})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not two_factor.is_on(user)
    assert events(LoginEventKind.OTP_FAILED) == 0


def test_a_code_typed_with_a_space_is_accepted(client, user):
    client.force_login(user)
    client.get(SET_UP)
    code = next_code(TOTPDevice.objects.get(user=user))
    response = client.post(SET_UP, {"code": f"{code[:3]} {code[3:]}"})
    assert response.status_code == 302
    assert two_factor.is_on(user)


def test_the_set_up_page_sends_a_user_who_has_it_on_to_the_overview(client, user):
    set_up_through_pages(client, user)
    response = client.get(SET_UP)
    assert response.status_code == 302
    assert response["Location"] == OVERVIEW
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_the_user_menu_links_to_two_step_sign_in(client, user):
    client.force_login(user)
    body = client.get("/").content.decode()
    assert f'href="{OVERVIEW}">Two-step sign-in</a>' in body


# ---------------------------------------------------------------------------
# Signing in


def test_a_user_with_a_device_is_asked_for_a_code_after_the_password(client, user):
    with_device(user)
    response = password_login(client, user)
    response = client.get(response["Location"])
    path, query = location(response)
    assert path == VERIFY
    assert query == {"next": "/"}
    response = client.get(VERIFY)
    assert response.status_code == 200
    assert "Enter your code" in response.content.decode()


def test_a_user_without_a_device_signs_in_with_the_password_alone(client, user):
    password_login(client, user)
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    "url", ["/", "/participants/", "/accounts/password/", "/accounts/two-step/"]
)
def test_an_unverified_user_is_sent_to_the_code_step_from_staff_pages(
    client, user, url
):
    with_device(user)
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 302
    assert location(response) == (VERIFY, {"next": url})


@pytest.mark.parametrize("url", ["/admin/", "/admin/otp_totp/totpdevice/"])
def test_the_django_admin_asks_for_the_code_too(client, db, url):
    admin = UserFactory(is_staff=True, is_superuser=True)
    with_device(admin)
    client.force_login(admin)
    response = client.get(url)
    assert response.status_code == 302
    assert location(response) == (VERIFY, {"next": url})


def test_the_admin_opens_once_the_code_is_given(client, db):
    admin = UserFactory(is_staff=True, is_superuser=True)
    device = with_device(admin)
    client.force_login(admin)
    client.post(VERIFY, {"code": next_code(device), "next": "/admin/"})
    assert client.get("/admin/").status_code == 200


def test_the_way_out_and_patient_links_stay_open_while_a_code_is_owed(
    client, user, monkeypatch
):
    from instruments import patient_views
    from studyportal import health

    monkeypatch.setattr(health, "CHECKS", {"database": health.check_database})
    # Guesses from other tests must not trip the limit on guessed links.
    monkeypatch.setattr(patient_views, "FAILED_LOOKUP_LIMIT", 10**6)
    with_device(user)
    client.force_login(user)
    assert client.get(reverse("healthz")).status_code == 200
    # A guessed questionnaire link is not found, rather than sent to the code step.
    assert client.get("/q/" + "x" * 43 + "/").status_code == 404
    response = client.post(reverse("logout"))
    assert location(response)[0] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_the_right_code_opens_the_page_asked_for(client, user):
    device = with_device(user)
    password_login(client, user, next_url="/participants/")
    response = client.get("/participants/")
    assert location(response) == (VERIFY, {"next": "/participants/"})
    session_key = client.session.session_key
    response = client.post(
        VERIFY, {"code": next_code(device), "next": "/participants/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/participants/"
    assert client.get("/participants/").status_code == 200
    assert client.get("/").status_code == 200
    assert client.session.session_key != session_key
    assert events(LoginEventKind.OTP_VERIFIED) == 1


def test_the_code_step_ignores_a_next_page_on_another_site(client, user):
    device = with_device(user)
    client.force_login(user)
    response = client.post(
        VERIFY, {"code": next_code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_a_wrong_code_at_sign_in_says_so_and_lets_nothing_through(
    client, user, no_throttle
):
    device = with_device(user)
    client.force_login(user)
    response = client.post(VERIFY, {"code": wrong_code(device), "next": "/"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "That code is not right" in body
    # The refused code is not shown again; the page asked for is kept.
    assert response.context["form"]["code"].value() == ""
    assert response.context["next"] == "/"
    assert location(client.get("/"))[0] == VERIFY
    assert events(LoginEventKind.OTP_FAILED) == 1
    assert events(LoginEventKind.OTP_VERIFIED) == 0


def test_repeated_wrong_codes_pause_the_code_step_with_a_clear_message(
    client, user, settings
):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device = with_device(user)
    client.force_login(user)
    client.post(VERIFY, {"code": wrong_code(device)})
    # Even the right code is refused while paused, and says why.
    response = client.post(VERIFY, {"code": next_code(device)})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Too many wrong codes in a row" in body
    assert "Wait 60 seconds" in body
    assert location(client.get("/"))[0] == VERIFY
    # The paused attempt never reached the device, so it is no second failure.
    assert events(LoginEventKind.OTP_FAILED) == 1
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_the_code_step_waves_on_a_user_with_nothing_to_verify(client, user):
    client.force_login(user)
    response = client.get(VERIFY + "?next=/participants/")
    assert response["Location"] == "/participants/"


def test_a_code_is_accepted_once_only(client, user, no_throttle):
    device = with_device(user)
    code = next_code(device)
    client.force_login(user)
    client.post(VERIFY, {"code": code})
    client.logout()
    client.force_login(user)
    response = client.post(VERIFY, {"code": code})
    assert "That code is not right" in response.content.decode()


# ---------------------------------------------------------------------------
# Turning off


def test_a_current_code_turns_it_off(client, user):
    device = set_up_through_pages(client, user)
    response = client.post(TURN_OFF, {"code": next_code(device)}, follow=True)
    assert response.redirect_chain[-1][0] == OVERVIEW
    assert "Two-step sign-in is off" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert events(LoginEventKind.OTP_TURNED_OFF) == 1
    # The password alone signs in again.
    client.logout()
    password_login(client, user)
    assert client.get("/").status_code == 200


def test_the_password_turns_it_off(client, user):
    set_up_through_pages(client, user)
    response = client.post(TURN_OFF, {"password": STAFF_PASSWORD})
    assert response.status_code == 302
    assert not two_factor.is_on(user)


def test_a_wrong_password_leaves_it_on(client, user):
    set_up_through_pages(client, user)
    response = client.post(TURN_OFF, {"password": "not-my-password"})
    assert response.status_code == 200
    assert response.context["form"].errors["password"] == [
        "That password is not right."
    ]
    assert two_factor.is_on(user)
    assert events(LoginEventKind.OTP_TURNED_OFF) == 0


def test_a_wrong_code_leaves_it_on(client, user, no_throttle):
    device = set_up_through_pages(client, user)
    response = client.post(TURN_OFF, {"code": wrong_code(device)})
    assert "That code is not right" in response.content.decode()
    assert two_factor.is_on(user)


def test_turning_off_asks_for_a_code_or_the_password(client, user):
    set_up_through_pages(client, user)
    response = client.post(TURN_OFF, {"code": "", "password": ""})
    assert response.status_code == 200
    assert "Enter a code from your authenticator app, or your password." in (
        response.content.decode()
    )
    assert two_factor.is_on(user)


def test_the_turn_off_page_sends_a_user_without_a_device_to_the_overview(client, user):
    client.force_login(user)
    response = client.get(TURN_OFF)
    assert response["Location"] == OVERVIEW


# ---------------------------------------------------------------------------
# Required for all staff


def test_when_required_a_user_without_a_device_must_set_one_up_first(
    client, user, settings
):
    settings.STAFF_TWO_FACTOR_REQUIRED = True
    password_login(client, user)
    response = client.get("/participants/")
    assert location(response) == (SET_UP, {"next": "/participants/"})
    response = client.get(SET_UP + "?next=/participants/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "asks every member of staff to use two-step sign-in" in body
    # Nothing else to wander off to until it is done, but the way out.
    assert 'id="main-nav"' not in body
    assert "Log out" in body
    device = TOTPDevice.objects.get(user=user)
    response = client.post(
        SET_UP, {"code": next_code(device), "next": "/participants/"}
    )
    assert response["Location"] == "/participants/"
    assert client.get("/participants/").status_code == 200


def test_when_required_a_user_with_a_device_still_gives_a_code(client, user, settings):
    settings.STAFF_TWO_FACTOR_REQUIRED = True
    with_device(user)
    client.force_login(user)
    assert location(client.get("/"))[0] == VERIFY
    assert location(client.get(SET_UP))[0] == VERIFY


def test_when_not_required_a_user_without_a_device_goes_anywhere(client, user):
    client.force_login(user)
    assert client.get("/participants/").status_code == 200


def test_the_requirement_is_read_from_the_environment():
    from studyportal import config

    env = {"STAFF_TWO_FACTOR_REQUIRED": "1"}
    assert config.read_bool(env, "STAFF_TWO_FACTOR_REQUIRED", default=False)


# ---------------------------------------------------------------------------
# Who owes what, without a request


def unverified(user):
    user.is_verified = lambda: False
    return user


def test_pending_step_for_each_kind_of_user(user):
    assert two_factor.pending_step(AnonymousUser(), required=True) is None
    assert two_factor.pending_step(unverified(user), required=False) is None
    assert two_factor.pending_step(user, required=True) == two_factor.Step.SET_UP
    with_device(user)
    assert two_factor.pending_step(user, required=False) == two_factor.Step.VERIFY
    user.is_verified = lambda: True
    assert two_factor.pending_step(user, required=True) is None


def test_an_unconfirmed_device_does_not_count_as_on(user):
    two_factor.start_set_up(user)
    assert not two_factor.is_on(user)
    assert two_factor.pending_step(unverified(user), required=False) is None


# ---------------------------------------------------------------------------
# The audit


def test_the_audit_records_each_step_and_never_a_code_or_secret(client, user, caplog):
    caplog.set_level(logging.DEBUG)
    device = set_up_through_pages(client, user)
    secret = b32encode(device.bin_key).decode()
    client.post(reverse("logout"))
    password_login(client, user)
    used = [next_code(device)]
    client.post(VERIFY, {"code": used[-1]})
    used.append(next_code(device))
    client.post(TURN_OFF, {"code": used[-1]})
    kinds = list(
        LoginEvent.objects.filter(user=user)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == [
        LoginEventKind.LOGGED_IN,
        LoginEventKind.OTP_SET_UP,
        LoginEventKind.LOGGED_OUT,
        LoginEventKind.LOGGED_IN,
        LoginEventKind.OTP_VERIFIED,
        LoginEventKind.OTP_TURNED_OFF,
    ]
    written = [
        str(value)
        for row in LoginEvent.objects.values_list()
        for value in row
        if value is not None
    ]
    written.append(caplog.text)
    for secret_value in (secret, device.key, *used):
        assert not any(secret_value in text for text in written)


def test_every_audited_step_names_the_user_and_address(client, user, no_throttle):
    device = with_device(user)
    client.force_login(user)
    client.post(VERIFY, {"code": wrong_code(device)})
    client.post(VERIFY, {"code": next_code(device)})
    for kind in (LoginEventKind.OTP_FAILED, LoginEventKind.OTP_VERIFIED):
        event = LoginEvent.objects.get(kind=kind)
        assert event.user == user
        assert event.username == user.username
        assert event.ip_address == "127.0.0.1"


# ---------------------------------------------------------------------------
# Every staff role


def _superuser(site):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.mark.parametrize(
    "make_user",
    [
        lambda site: clinic_staff(site),
        lambda site: coordinator(site.study),
        lambda site: investigator(site.study),
        lambda site: qualitative(site.study),
        _superuser,
    ],
    ids=["clinic_staff", "coordinator", "investigator", "qualitative", "admin"],
)
def test_each_staff_role_sets_it_up_and_signs_in_with_a_code(client, make_user):
    staff = make_user(SiteFactory())
    device = set_up_through_pages(client, staff)
    client.post(reverse("logout"))
    password_login(client, staff)
    assert location(client.get("/"))[0] == VERIFY
    response = client.post(VERIFY, {"code": next_code(device)})
    assert response["Location"] == reverse("home")
    assert client.get("/").status_code == 200


def test_an_administrator_removes_a_lost_device_in_the_django_admin(client, user):
    device = with_device(user)
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    changelist = reverse("admin:otp_totp_totpdevice_changelist")
    assert user.username in client.get(changelist).content.decode()
    # The admin resets a device; it never needs to see the secret.
    change = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    assert device.key not in change.content.decode()
    delete = reverse("admin:otp_totp_totpdevice_delete", args=[device.pk])
    response = client.post(delete, {"post": "yes"})
    assert response.status_code == 302
    assert not two_factor.is_on(user)
