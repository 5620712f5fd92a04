"""Login protection: the login forms, the growing delay after failed logins,
the audit of logins and the page shown while a login waits.

Failed logins are recorded by django-axes (see AXES_* in settings), which this
module's handler reads; the client address comes from axes too, so the audit
and the delay agree on who was asking.

The delay: after ``AXES_FAILURE_LIMIT`` failures for one username from one
address, that username waits a minute before it may try again from there, then
two, four, ... up to ``AXES_COOLOFF_TIME``'s longest delay. Across all addresses
together the same happens after ``LOGIN_USERNAME_FAILURE_LIMIT`` failures, so
many addresses cannot guess without end. Nothing locks for long: someone
typing a colleague's name at a shared clinic address slows the colleague down
for minutes, not for the whole cool-off, and an administrator can lift it.
"""

from __future__ import annotations

import datetime as dt
import math

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address, get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import (
    user_logged_in,
    user_logged_out,
    user_login_failed,
)
from django.core.validators import MaxLengthValidator
from django.db.models import Max, Sum
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from studyportal.models import LoginEvent, LoginEventKind


def record_login_event(
    *, kind: str, request: HttpRequest | None, user=None, username: str = ""
) -> LoginEvent:
    meta = request.META if request is not None else {}
    ip_address = None
    if request is not None and meta.get("REMOTE_ADDR"):
        ip_address = get_client_ip_address(request)
    return LoginEvent.objects.create(
        kind=kind,
        user=user,
        username=(username or (user.get_username() if user else ""))[:150],
        ip_address=ip_address,
        user_agent=meta.get("HTTP_USER_AGENT", "")[:255],
    )


def _attempted_username(credentials: dict) -> str:
    # Django has already masked the password in ``credentials``; only the name is read.
    return str(credentials.get(get_user_model().USERNAME_FIELD) or "")


@receiver(user_logged_in, dispatch_uid="studyportal.logins.logged_in")
def _on_logged_in(sender, request, user, **kwargs) -> None:
    record_login_event(kind=LoginEventKind.LOGGED_IN, request=request, user=user)


@receiver(user_logged_out, dispatch_uid="studyportal.logins.logged_out")
def _on_logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record_login_event(kind=LoginEventKind.LOGGED_OUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="studyportal.logins.login_failed")
def _on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    record_login_event(
        kind=LoginEventKind.FAILED,
        request=request,
        username=_attempted_username(credentials),
    )


@receiver(user_locked_out, dispatch_uid="studyportal.logins.locked_out")
def _on_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    record_login_event(
        kind=LoginEventKind.LOCKED_OUT, request=request, username=username or ""
    )


def lockout_response(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    """The page for a login that must wait: what happened and when to try again."""
    handler = AxesProxyHandler.get_implementation()
    wait = handler.wait(request, credentials) if isinstance(handler, Delay) else None
    minutes = max(1, math.ceil(wait.total_seconds() / 60)) if wait else None
    return render(
        request, "registration/locked_out.html", {"minutes": minutes}, status=429
    )


# ---------------------------------------------------------------------------
# The forms: a username longer than any account's is refused before any lookup


class _BoundedUsername:
    """Refuse a username longer than the user model allows, with a message.

    Django's login form only tells the browser the length; without this, a long
    name reaches ``authenticate()`` and the failed-login record, whose column
    it overflows.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


class LoginForm(_BoundedUsername, AuthenticationForm):
    pass


class AdminLoginForm(_BoundedUsername, AdminAuthenticationForm):
    pass


# ---------------------------------------------------------------------------
# The growing delay

FIRST_DELAY = dt.timedelta(minutes=1)


def delay_after(failures: int, limit: int, longest: dt.timedelta) -> dt.timedelta:
    """How long to wait after ``failures`` recent failures, with ``limit`` free."""
    if failures < limit:
        return dt.timedelta(0)
    doublings = min(failures - limit, 20)
    return min(FIRST_DELAY * 2**doublings, longest)


def _remaining(attempts, limit: int, now: dt.datetime) -> dt.timedelta:
    totals = attempts.aggregate(
        failures=Sum("failures_since_start"), last=Max("attempt_time")
    )
    delay = delay_after(totals["failures"] or 0, limit, settings.LOGIN_LONGEST_DELAY)
    if not delay:
        return dt.timedelta(0)
    return max(totals["last"] + delay - now, dt.timedelta(0))


class Delay(AxesDatabaseHandler):
    """axes' database records, read as a growing delay rather than a lockout."""

    def wait(self, request, credentials=None) -> dt.timedelta:
        """How long this username must wait before trying again from here."""
        username = get_client_username(request, credentials)
        if not username:
            return dt.timedelta(0)
        now = timezone.now()
        recent = AccessAttempt.objects.filter(
            username=username, attempt_time__gte=get_cool_off_threshold(request)
        )
        from_here = recent.filter(ip_address=request.axes_ip_address)
        return max(
            _remaining(from_here, settings.AXES_FAILURE_LIMIT, now),
            _remaining(recent, settings.LOGIN_USERNAME_FAILURE_LIMIT, now),
        )

    def is_locked(self, request, credentials=None) -> bool:
        return settings.AXES_LOCK_OUT_AT_FAILURE and bool(
            self.wait(request, credentials)
        )

    def get_failures(self, request, credentials=None) -> int:
        # axes compares this with AXES_FAILURE_LIMIT after recording a failure to
        # decide whether to answer with the waiting page: it reaches the limit
        # exactly while a delay runs.
        return (
            settings.AXES_FAILURE_LIMIT if self.is_locked(request, credentials) else 0
        )
