"""Login protection: lockout, strong passwords, idle sessions and the login audit."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from studyportal.models import LoginEvent, LoginEventKind
from tests.factories import STAFF_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
WRONG = "not-the-password-at-all"


def post_login(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def fail_until_locked(client, settings, username):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = post_login(client, username, WRONG)
        assert response.status_code == 200
        assert "enter a correct username and password" in response.text
    return post_login(client, username, WRONG)


# ---------------------------------------------------------------------------
# The growing delay (M-4)


def pass_time(delta: dt.timedelta) -> None:
    """Age every recorded failure by ``delta``, as if that much time had passed."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= delta
        attempt.save(update_fields=["attempt_time"])


def test_it_makes_a_username_wait_after_the_failure_limit(client, settings):
    user = UserFactory()
    response = fail_until_locked(client, settings, user.username)
    assert response.status_code == 429
    assert "Too many login attempts" in response.text
    assert "try again in 1 minute." in response.text
    # Even the right password is refused while it waits.
    response = post_login(client, user.username, STAFF_PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_m4_the_wait_doubles_with_each_failure_up_to_the_longest(client, settings):
    user = UserFactory()
    fail_until_locked(client, settings, user.username)
    waits = []
    for _ in range(6):
        pass_time(dt.timedelta(minutes=16))
        response = post_login(client, user.username, WRONG)
        assert response.status_code == 429
        waits.append(response.context["minutes"])
    assert waits == [2, 4, 8, 15, 15, 15]
    # A try while waiting is refused unchecked and does not lengthen the wait.
    for _ in range(3):
        assert post_login(client, user.username, WRONG).context["minutes"] == 15
    pass_time(dt.timedelta(minutes=15, seconds=1))
    assert post_login(client, user.username, STAFF_PASSWORD).status_code == 302


def test_m4_a_colleague_at_the_same_address_waits_a_minute_not_the_cool_off(
    client, settings
):
    colleague = UserFactory()
    # Someone at the shared clinic address types the colleague's name.
    fail_until_locked(client, settings, colleague.username)
    assert post_login(client, colleague.username, STAFF_PASSWORD).status_code == 429
    pass_time(dt.timedelta(minutes=1, seconds=1))
    response = post_login(client, colleague.username, STAFF_PASSWORD)
    assert response.status_code == 302
    # Logging in forgets this address's failures.
    assert not AccessAttempt.objects.filter(username=colleague.username).exists()


def test_m4_many_addresses_cannot_guess_one_username_without_end(client, settings):
    user = UserFactory()
    for number in range(settings.LOGIN_USERNAME_FAILURE_LIMIT):
        response = post_login(
            client, user.username, WRONG, REMOTE_ADDR=f"198.51.100.{number + 1}"
        )
    assert response.status_code == 429
    # A fresh address is made to wait too, even with the right password.
    fresh = post_login(client, user.username, STAFF_PASSWORD, REMOTE_ADDR="192.0.2.7")
    assert fresh.status_code == 429
    pass_time(dt.timedelta(minutes=1, seconds=1))
    assert (
        post_login(client, user.username, WRONG, REMOTE_ADDR="192.0.2.7").context[
            "minutes"
        ]
        == 2
    )


def test_m4_a_forged_forwarded_for_does_not_escape_the_username_limit(client, settings):
    # As settings.py sets them for TRUSTED_PROXY_COUNT=1, reached past the proxy.
    settings.AXES_IPWARE_PROXY_COUNT = 0
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    user = UserFactory()
    statuses = [
        post_login(
            client,
            user.username,
            WRONG,
            HTTP_X_FORWARDED_FOR=f"203.0.113.{number + 1}",
        ).status_code
        for number in range(settings.LOGIN_USERNAME_FAILURE_LIMIT + 5)
    ]
    limit = settings.LOGIN_USERNAME_FAILURE_LIMIT
    assert set(statuses[: limit - 1]) == {200}
    assert set(statuses[limit - 1 :]) == {429}


def test_m4_an_administrator_sees_the_failures_and_lifts_the_wait(client, settings):
    user = UserFactory()
    fail_until_locked(client, settings, user.username)
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    listed = client.get("/admin/axes/accessattempt/")
    assert user.username in listed.text
    attempt = AccessAttempt.objects.get(username=user.username)
    client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    client.logout()
    assert post_login(client, user.username, STAFF_PASSWORD).status_code == 302


def test_l1_a_username_longer_than_any_account_gets_a_message_not_a_500(client):
    for url in (LOGIN, "/admin/login/"):
        for length in (151, 256, 5000):
            response = client.post(url, {"username": "u" * length, "password": WRONG})
            assert response.status_code == 200
            assert "at most 150 characters" in response.text
    assert not AccessAttempt.objects.exists()


def test_lockout_does_not_touch_another_user(client, settings):
    locked, other = UserFactory(), UserFactory()
    fail_until_locked(client, settings, locked.username)
    response = post_login(client, other.username, STAFF_PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(other.pk)


def test_lockout_does_not_touch_the_same_user_from_another_address(client, settings):
    user = UserFactory()
    fail_until_locked(client, settings, user.username)
    response = post_login(
        client, user.username, STAFF_PASSWORD, REMOTE_ADDR="192.0.2.44"
    )
    assert response.status_code == 302


def test_failures_are_forgotten_after_a_day(client, settings):
    user = UserFactory()
    for _ in range(settings.LOGIN_USERNAME_FAILURE_LIMIT - 1):
        post_login(client, user.username, WRONG, REMOTE_ADDR="192.0.2.99")
    pass_time(settings.AXES_COOLOFF_TIME + dt.timedelta(minutes=1))
    response = fail_until_locked(client, settings, user.username)
    assert response.context["minutes"] == 1


def test_an_administrator_can_unlock_a_user_at_once(client, settings):
    user = UserFactory()
    fail_until_locked(client, settings, user.username)
    assert reset(username=user.username) == 1
    response = post_login(client, user.username, STAFF_PASSWORD)
    assert response.status_code == 302


def test_lockout_can_be_switched_off(client, settings):
    settings.AXES_ENABLED = False
    user = UserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        assert post_login(client, user.username, WRONG).status_code == 200
    assert post_login(client, user.username, STAFF_PASSWORD).status_code == 302


def test_behind_a_trusted_proxy_the_address_comes_from_x_forwarded_for(
    client, settings
):
    # As settings.py sets them for TRUSTED_PROXY_COUNT=1.
    settings.AXES_IPWARE_PROXY_COUNT = 0
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    user = UserFactory()
    # A client may forge the left part of the header; the proxy appends the rest.
    post_login(
        client,
        user.username,
        WRONG,
        REMOTE_ADDR="172.18.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9",
    )
    assert LoginEvent.objects.get().ip_address == "203.0.113.9"
    assert AccessAttempt.objects.get().ip_address == "203.0.113.9"


# ---------------------------------------------------------------------------
# Passwords


@pytest.mark.parametrize(
    "weak",
    [
        "Sh0rt-pass",  # under 12 characters
        "password1234",  # common
        "482915037261",  # numbers only
        "{username}-account",  # close to the username
    ],
)
def test_the_password_change_form_refuses_weak_passwords(client, weak):
    user = UserFactory(username="mariagonzalez")
    client.force_login(user)
    new = weak.format(username=user.username)
    response = client.post(
        reverse("password_change"),
        {"old_password": STAFF_PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    user.refresh_from_db()
    assert user.check_password(STAFF_PASSWORD)


def test_the_password_change_form_accepts_a_strong_password(client):
    user = UserFactory()
    client.force_login(user)
    new = "violet-kettle-orbit-91"
    response = client.post(
        reverse("password_change"),
        {"old_password": STAFF_PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)


# ---------------------------------------------------------------------------
# Idle sessions


def test_sessions_end_when_the_browser_closes_and_after_30_idle_minutes(settings):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_COOKIE_AGE == 30 * 60


def test_each_request_pushes_the_session_expiry_back(client):
    client.force_login(UserFactory())
    session = Session.objects.get()
    session.expire_date = timezone.now() + dt.timedelta(minutes=1)
    session.save()
    assert client.get(reverse("home")).status_code == 200
    session.refresh_from_db()
    assert session.expire_date > timezone.now() + dt.timedelta(minutes=29)


def test_an_idle_session_expires_and_asks_for_a_login_again(client):
    client.force_login(UserFactory())
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# ---------------------------------------------------------------------------
# Audit


def test_login_logout_and_failure_are_audited_without_the_password(client):
    user = UserFactory()
    agent = "Mozilla/5.0 (clinic PC)"
    post_login(client, user.username, WRONG, HTTP_USER_AGENT=agent)
    post_login(client, user.username, STAFF_PASSWORD, HTTP_USER_AGENT=agent)
    client.post(reverse("logout"), HTTP_USER_AGENT=agent)

    failed, logged_in, logged_out = LoginEvent.objects.order_by("id")
    assert failed.kind == LoginEventKind.FAILED
    assert failed.username == user.username and failed.user is None
    assert logged_in.kind == LoginEventKind.LOGGED_IN and logged_in.user == user
    assert logged_out.kind == LoginEventKind.LOGGED_OUT and logged_out.user == user
    for event in (failed, logged_in, logged_out):
        assert event.ip_address == "127.0.0.1"
        assert event.user_agent == agent
        stored = " ".join(str(value) for value in vars(event).values())
        assert WRONG not in stored and STAFF_PASSWORD not in stored


def test_a_failure_for_an_unknown_username_is_audited_with_the_name_typed(client):
    post_login(client, "no-such-person", WRONG)
    event = LoginEvent.objects.get()
    assert (event.kind, event.username, event.user) == (
        LoginEventKind.FAILED,
        "no-such-person",
        None,
    )


def test_a_lockout_is_audited(client, settings):
    user = UserFactory()
    fail_until_locked(client, settings, user.username)
    assert LoginEvent.objects.filter(
        kind=LoginEventKind.LOCKED_OUT, username=user.username
    ).exists()


def test_the_login_audit_is_read_only_in_the_admin(client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    url = reverse("admin:studyportal_loginevent_changelist")
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:studyportal_loginevent_add")).status_code == 403
