"""Two-step sign-in: a code from an authenticator app after the password.

django-otp keeps the devices (TOTP), checks codes and slows down repeated wrong
codes; this module decides who still owes a code, and audits every step as a
LoginEvent. Neither a code nor a secret is ever written to the audit or a log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from base64 import b32encode

import django_otp
import segno
from django.contrib.auth import authenticate, get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from studyportal.errors import DomainError
from studyportal.logins import record_login_event
from studyportal.models import LoginEventKind

DEVICE_NAME = "Authenticator app"
SECRET_GROUP_SIZE = 4


class Step(enum.StrEnum):
    """What a signed-in user must do before any staff page opens."""

    VERIFY = "verify"
    SET_UP = "set_up"


class CodeThrottled(DomainError):
    """Too many wrong codes in a row: the device takes none until ``retry_at``."""

    def __init__(self, retry_at: dt.datetime | None):
        self.retry_at = retry_at
        super().__init__(
            "Too many wrong codes in a row, so codes are paused for your safety. "
            f"Wait {_wait_in_words(retry_at)}, then enter the code your app "
            "shows at that moment."
        )


def _wait_in_words(retry_at: dt.datetime | None) -> str:
    if retry_at is None:
        return "a minute"
    seconds = max(1, math.ceil((retry_at - timezone.now()).total_seconds()))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


@dataclasses.dataclass(frozen=True)
class SetUpKey:
    """What an authenticator app needs: a QR code, or the secret typed in."""

    otpauth_url: str
    secret_groups: tuple[str, ...]
    qr_data_uri: str


# ---------------------------------------------------------------------------
# Who owes what


def is_on(user) -> bool:
    """Whether the user has a confirmed authenticator, so signs in with a code."""
    return django_otp.user_has_device(user, confirmed=True)


def confirmed_device(user) -> TOTPDevice | None:
    return (
        TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("id").first()
    )


def pending_step(user, *, required: bool) -> Step | None:
    """The step a signed-in user must take first, or None when they may go on.

    ``user`` is ``request.user`` as django-otp's middleware leaves it, so it
    knows whether this session has given a code.
    """
    if not user.is_authenticated or user.is_verified():
        return None
    if is_on(user):
        return Step.VERIFY
    if required:
        return Step.SET_UP
    return None


# ---------------------------------------------------------------------------
# Setting up


@transaction.atomic
def start_set_up(user) -> TOTPDevice:
    """The unconfirmed device the user is setting up, made on first call.

    The same device (and secret) comes back until it is confirmed, so a reload
    or a mistyped code never makes the user scan a new QR code.
    """
    # One set-up at a time per user, even from two tabs at once.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    if is_on(user):
        raise DomainError("Two-step sign-in is already on for your account.")
    device = (
        TOTPDevice.objects.devices_for_user(user, confirmed=False)
        .order_by("id")
        .first()
    )
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def set_up_key(device: TOTPDevice) -> SetUpKey:
    url = device.config_url
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    groups = tuple(
        secret[start : start + SECRET_GROUP_SIZE]
        for start in range(0, len(secret), SECRET_GROUP_SIZE)
    )
    qr = segno.make(url, error="m").svg_data_uri(scale=5, border=4, light="#fff")
    return SetUpKey(otpauth_url=url, secret_groups=groups, qr_data_uri=qr)


def confirm_set_up(request: HttpRequest, *, device: TOTPDevice, code: str) -> None:
    """Turn two-step sign-in on once the app has shown it holds the secret.

    The session that set it up counts as verified: it has just given a code.
    """
    checked = _check_code(request, device=device, code=code)
    with transaction.atomic():
        checked.confirmed = True
        checked.save(update_fields=["confirmed"])
        # Any other half-finished set-up is now moot.
        TOTPDevice.objects.devices_for_user(request.user, confirmed=False).delete()
    _mark_verified(request, checked)
    record_login_event(
        kind=LoginEventKind.OTP_SET_UP, request=request, user=request.user
    )


# ---------------------------------------------------------------------------
# Signing in


def verify_sign_in(request: HttpRequest, *, code: str) -> None:
    """Accept the second step of signing in, or raise with what to do next."""
    device = confirmed_device(request.user)
    if device is None:
        raise DomainError("Two-step sign-in is not on for your account.")
    checked = _check_code(request, device=device, code=code)
    _mark_verified(request, checked)
    record_login_event(
        kind=LoginEventKind.OTP_VERIFIED, request=request, user=request.user
    )


# ---------------------------------------------------------------------------
# Turning off


def turn_off(request: HttpRequest, *, code: str = "", password: str = "") -> None:
    """Remove the user's authenticator, proven by a current code or the password."""
    user = request.user
    device = confirmed_device(user)
    if device is None:
        raise DomainError("Two-step sign-in is already off for your account.")
    if code:
        _check_code(request, device=device, code=code)
    elif password:
        # Through authenticate(), so wrong passwords count towards the lockout.
        checked = authenticate(request, username=user.get_username(), password=password)
        if checked is None or checked.pk != user.pk:
            raise DomainError("That password is not right.", field="password")
    else:
        raise DomainError("Enter a code from your authenticator app, or your password.")
    TOTPDevice.objects.devices_for_user(user).delete()
    request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)
    record_login_event(kind=LoginEventKind.OTP_TURNED_OFF, request=request, user=user)


# ---------------------------------------------------------------------------
# Codes


def _check_code(request: HttpRequest, *, device: TOTPDevice, code: str) -> TOTPDevice:
    """The device, fresh from the database, if ``code`` is right; else raise.

    A throttled device refuses even a right code, so the pause is told apart
    from a wrong code before the code is tried.
    """
    allowed, detail = device.verify_is_allowed()
    if not allowed:
        raise CodeThrottled((detail or {}).get("locked_until"))
    checked = django_otp.verify_token(request.user, device.persistent_id, code)
    if checked is None:
        record_login_event(
            kind=LoginEventKind.OTP_FAILED, request=request, user=request.user
        )
        raise DomainError(
            "That code is not right. Enter the 6 digits your app shows now; "
            "they change every 30 seconds.",
            field="code",
        )
    return checked


def _mark_verified(request: HttpRequest, device: TOTPDevice) -> None:
    # A new session key, so a key seen before the code was given is worth nothing.
    request.session.cycle_key()
    django_otp.login(request, device)
