"""Login protection: the audit of logins and the page shown when locked out.

The lockout itself is django-axes (see AXES_* in settings); the client address
comes from axes too, so the audit and the lockout agree on who was asking.
"""

from __future__ import annotations

import math

from axes.helpers import get_client_ip_address, get_cool_off
from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import (
    user_logged_in,
    user_logged_out,
    user_login_failed,
)
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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
    """The page for a locked-out login: what happened and when to try again."""
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    return render(
        request, "registration/locked_out.html", {"minutes": minutes}, status=429
    )
